// The projection API as queries see it. Evaluated once per runtime before
// the query; the query's calls fill `definition`, the host then drives
// processing through the `__eventfold` functions at the end.
(function () {
  "use strict";
  var definition = {
    allStreams: false,
    streams: [],
    categories: [],
    foreachStream: false,
    partitioned: false,
    when: false,
    handlers: {},
    options: {},
    outputState: false,
    transform: false,
    outputTo: null,
  };
  var handlers = null;
  var partitionFn = null;
  var transforms = [];
  var emitEnabled = false;
  var effects = [];
  var states = new Map();
  var dirty = new Set();
  var shared = undefined;
  var sharedDirty = false;
  var current = null;

  var knownOptions = {
    "$includelinks": "$includeLinks",
    "reorderevents": "reorderEvents",
    "processinglag": "processingLag",
    "resultstreamname": "resultStreamName",
    "bistate": "biState",
  };

  function options(values) {
    if (values === null || typeof values !== "object") {
      throw new Error("options expects an object");
    }
    for (var key in values) {
      var canonical = knownOptions[String(key).toLowerCase()];
      if (canonical === undefined) {
        throw new Error("Unrecognized option: " + key);
      }
      definition.options[canonical] = values[key];
    }
  }

  function output() {
    definition.outputState = true;
  }

  var afterOutput = {
    transformBy: function (fn) {
      transforms.push({ kind: "transform", fn: fn });
      definition.transform = true;
      output();
      return afterOutput;
    },
    filterBy: function (fn) {
      transforms.push({ kind: "filter", fn: fn });
      definition.transform = true;
      output();
      return afterOutput;
    },
    outputState: function () {
      output();
      return afterOutput;
    },
    outputTo: function (stream, pattern) {
      definition.outputTo = { stream: String(stream), pattern: pattern === undefined ? null : String(pattern) };
      output();
      return afterOutput;
    },
  };

  function when(map) {
    if (map === null || typeof map !== "object") {
      throw new Error("when expects an object of handlers");
    }
    handlers = map;
    definition.when = true;
    var types = [];
    for (var key in map) {
      if (typeof map[key] !== "function") {
        throw new Error("handler '" + key + "' is not a function");
      }
      if (key.charAt(0) !== "$") {
        types.push(key);
      }
    }
    definition.handlers = {
      types: types,
      any: typeof map.$any === "function",
      created: typeof map.$created === "function",
      deleted: typeof map.$deleted === "function",
      init: typeof map.$init === "function",
      initShared: typeof map.$initShared === "function",
    };
    return afterOutput;
  }

  var afterPartition = {
    when: when,
    outputState: afterOutput.outputState,
    transformBy: afterOutput.transformBy,
    filterBy: afterOutput.filterBy,
    outputTo: afterOutput.outputTo,
  };

  var afterSource = {
    when: when,
    partitionBy: function (fn) {
      if (typeof fn !== "function") {
        throw new Error("partitionBy expects a function");
      }
      partitionFn = fn;
      definition.partitioned = true;
      return afterPartition;
    },
    foreachStream: function () {
      definition.foreachStream = true;
      definition.partitioned = true;
      return afterPartition;
    },
    outputState: afterOutput.outputState,
    transformBy: afterOutput.transformBy,
    filterBy: afterOutput.filterBy,
    outputTo: afterOutput.outputTo,
  };

  function names(args) {
    var list = args.length === 1 && Array.isArray(args[0]) ? args[0] : Array.prototype.slice.call(args);
    return list.map(String);
  }

  function fromAll() {
    definition.allStreams = true;
    return afterSource;
  }
  function fromStream(stream) {
    definition.streams.push(String(stream));
    return afterSource;
  }
  function fromStreams() {
    definition.streams = definition.streams.concat(names(arguments));
    return afterSource;
  }
  function fromCategory(category) {
    definition.categories.push(String(category));
    return afterSource;
  }
  function fromCategories() {
    definition.categories = definition.categories.concat(names(arguments));
    return afterSource;
  }

  function json(value) {
    return value === undefined || value === null ? null : JSON.stringify(value);
  }

  function requireEmit(what) {
    if (!emitEnabled) {
      throw new Error("'" + what + "' is not allowed by the projection/configuration/mode");
    }
  }

  function emit(stream, eventType, body, metadata) {
    requireEmit("emit");
    effects.push({
      kind: "emit",
      stream: String(stream),
      eventType: String(eventType),
      data: JSON.stringify(body === undefined ? {} : body),
      metadata: json(metadata),
      causedBy: current ? current.eventId : null,
    });
  }

  function linkTo(stream, event, metadata) {
    requireEmit("linkTo");
    effects.push({
      kind: "link",
      stream: String(stream),
      target: event.sequenceNumber + "@" + event.streamId,
      metadata: json(metadata),
      causedBy: current ? current.eventId : null,
    });
  }

  function linkStreamTo(stream, linkedStream, metadata) {
    requireEmit("linkStreamTo");
    effects.push({
      kind: "linkStream",
      stream: String(stream),
      target: String(linkedStream),
      metadata: json(metadata),
      causedBy: current ? current.eventId : null,
    });
  }

  function copyTo() {
    // Accepted and ignored, as the reference server does.
  }

  function log(message) {
    effects.push({ kind: "log", message: typeof message === "string" ? message : JSON.stringify(message) });
  }

  function parseOrNull(text) {
    if (text === null || text === undefined || text === "") {
      return null;
    }
    try {
      return JSON.parse(text);
    } catch (error) {
      return null;
    }
  }

  // One event as handlers see it. Its fields are read from the array of
  // values the host made for it (in the order of `eventFields`), through
  // accessors on the prototype: an event costs one property, not fifteen,
  // which is most of what a simple handler costs. A handler may still
  // assign a field: the value becomes the event's own. `data`, `body` and
  // the metadata parse on first use, so a handler that ignores them costs
  // no parsing.
  var VALUES = Symbol("values");
  var eventFields = [
    "streamId",
    "sequenceNumber",
    "eventType",
    "eventId",
    "bodyRaw",
    "metadataRaw",
    "linkMetadataRaw",
    "isJson",
    "created",
    "category",
    "partition",
  ];
  var PARTITION = eventFields.indexOf("partition");
  function ProjectionEvent(values) {
    this[VALUES] = values;
  }
  function ownValue(object, name, value) {
    Object.defineProperty(object, name, { value: value, writable: true, enumerable: true, configurable: true });
  }
  eventFields.forEach(function (name, index) {
    Object.defineProperty(ProjectionEvent.prototype, name, {
      get: function () {
        var value = this[VALUES][index];
        // Null, not undefined, for an event read directly (no link), and
        // "" for the partition until it is known.
        return value === undefined ? (index === PARTITION ? "" : null) : value;
      },
      set: function (value) {
        ownValue(this, name, value);
      },
      enumerable: true,
    });
  });
  Object.defineProperty(ProjectionEvent.prototype, "data", {
    get: function () {
      if (this._data === undefined) {
        this._data = this.isJson ? parseOrNull(this.bodyRaw) : null;
      }
      return this._data;
    },
  });
  Object.defineProperty(ProjectionEvent.prototype, "body", {
    get: function () {
      return this.data;
    },
  });
  Object.defineProperty(ProjectionEvent.prototype, "metadata", {
    get: function () {
      if (this._metadata === undefined) {
        this._metadata = parseOrNull(this.metadataRaw);
      }
      return this._metadata;
    },
  });
  Object.defineProperty(ProjectionEvent.prototype, "linkMetadata", {
    get: function () {
      if (this._linkMetadata === undefined) {
        this._linkMetadata = parseOrNull(this.linkMetadataRaw);
      }
      return this._linkMetadata;
    },
  });

  // Storing or logging the whole event (`s.events.push(e)`) writes its
  // parsed fields too, as the reference server's event object does: the
  // getters above live on the prototype, which JSON.stringify skips.
  ProjectionEvent.prototype.toJSON = function () {
    return {
      isJson: this.isJson,
      data: this.data,
      body: this.body,
      bodyRaw: this.bodyRaw,
      sequenceNumber: this.sequenceNumber,
      metadataRaw: this.metadataRaw,
      linkMetadataRaw: this.linkMetadataRaw,
      partition: this.partition,
      category: this.category,
      eventType: this.eventType,
      streamId: this.streamId,
      eventId: this.eventId,
      created: this.created,
      metadata: this.metadata,
      linkMetadata: this.linkMetadata,
    };
  };

  function initialState() {
    if (handlers && typeof handlers.$init === "function") {
      var value = handlers.$init();
      return value === undefined ? {} : value;
    }
    return {};
  }

  function sharedState() {
    if (shared === undefined) {
      shared = handlers && typeof handlers.$initShared === "function" ? handlers.$initShared() : {};
      if (shared === undefined) {
        shared = {};
      }
    }
    return shared;
  }

  function call(handler, partition, event, extra) {
    var state = states.get(partition);
    if (definition.options.biState) {
      var pair = [state, sharedState()];
      var returned = handler(pair, event, extra);
      if (returned !== undefined) {
        pair = returned;
      }
      states.set(partition, pair[0]);
      shared = pair[1];
      sharedDirty = true;
    } else {
      var next = handler(state, event, extra);
      if (next !== undefined) {
        states.set(partition, next);
      }
    }
    dirty.add(partition);
  }

  function partitionOf(event) {
    if (definition.foreachStream) {
      return event.streamId;
    }
    if (partitionFn) {
      var key = partitionFn(event);
      if (key === undefined || key === null) {
        return null;
      }
      return String(key);
    }
    return "";
  }

  // Handles one event, given its values; answers its partition, or null
  // when the event was not for this projection (no handler, no partition).
  function handleOne(values) {
    var event = new ProjectionEvent(values);
    var eventType = values[2];
    var bodyRaw = values[4];
    if (values[7] && (bodyRaw === "" || bodyRaw === null)) {
      return null;
    }
    current = event;
    var partition = partitionOf(event);
    if (partition === null) {
      current = null;
      return null;
    }
    values[PARTITION] = partition;
    var fresh = !states.has(partition);
    if (fresh) {
      states.set(partition, initialState());
      dirty.add(partition);
    }
    if (!definition.when) {
      states.set(partition, event.data);
      dirty.add(partition);
      current = null;
      return partition;
    }
    if (fresh && typeof handlers.$created === "function") {
      call(handlers.$created, partition, event);
    }
    var handler = handlers[eventType];
    if (typeof handler === "function" && eventType.charAt(0) !== "$") {
      call(handler, partition, event);
    } else if (typeof handlers.$any === "function") {
      call(handlers.$any, partition, event);
    }
    current = null;
    return partition;
  }

  // Read before any query runs: a query that replaces `Date.now` cannot
  // keep the host's deadline from firing.
  var now = Date.now;
  var eventInProgress = 0;

  // Handles the events of a batch (each an array of values) in order.
  // Before an event, when `renewEveryMs` have passed since the last
  // renewal, `renew` (the host's) arms the per-event deadline again, so
  // that no event is cut short by the time the events before it took.
  // Answers how many events were handled and the partitions they fell in,
  // each once, in the order first met.
  function handleBatch(events, renew, renewEveryMs) {
    var handled = 0;
    var partitions = [];
    var seen = new Set();
    // Read before renewing: the host's deadline then never starts before
    // the time this side counts from.
    var renewed = now();
    renew();
    for (var index = 0; index < events.length; index++) {
      eventInProgress = index;
      var at = now();
      if (at - renewed >= renewEveryMs) {
        renewed = at;
        renew();
      }
      var partition = handleOne(events[index]);
      if (partition === null) {
        continue;
      }
      handled++;
      if (!seen.has(partition)) {
        seen.add(partition);
        partitions.push(partition);
      }
    }
    return [handled, partitions];
  }

  function handleDeleted(partition, isSoftDelete) {
    if (!handlers || typeof handlers.$deleted !== "function") {
      return;
    }
    if (!states.has(partition)) {
      states.set(partition, initialState());
    }
    call(handlers.$deleted, partition, null, isSoftDelete);
  }

  function resultOf(state) {
    var value = definition.options.biState ? state : state;
    for (var i = 0; i < transforms.length; i++) {
      var step = transforms[i];
      if (step.kind === "transform") {
        value = step.fn(value);
      } else if (!step.fn(value)) {
        return null;
      }
      if (value === undefined || value === null) {
        return null;
      }
    }
    return value;
  }

  // The partitions changed since the last call, as JSON texts.
  function takeChanges() {
    var changed = [];
    dirty.forEach(function (partition) {
      var state = states.get(partition);
      var result = definition.transform ? resultOf(state) : state;
      changed.push([partition, json(state), json(result)]);
    });
    dirty.clear();
    var out = { changed: changed, effects: effects, shared: null };
    if (sharedDirty) {
      out.shared = json(shared);
      sharedDirty = false;
    }
    effects = [];
    return JSON.stringify(out);
  }

  function loadState(partition, text) {
    states.set(partition, text === null ? initialState() : JSON.parse(text));
  }

  function loadShared(text) {
    shared = JSON.parse(text);
  }

  function stateOf(partition) {
    return states.has(partition) ? json(states.get(partition)) : null;
  }

  function resultOfPartition(partition) {
    if (!states.has(partition)) {
      return null;
    }
    var state = states.get(partition);
    return json(definition.transform ? resultOf(state) : state);
  }

  var global = globalThis;
  global.fromAll = fromAll;
  global.fromStream = fromStream;
  global.fromStreams = fromStreams;
  global.fromCategory = fromCategory;
  global.fromCategories = fromCategories;
  global.options = options;
  global.emit = emit;
  global.linkTo = linkTo;
  global.linkStreamTo = linkStreamTo;
  global.copyTo = copyTo;
  global.log = log;
  global.on_event = function (fn) {
    return fromAll().when({ $any: fn });
  };
  global.on_any = global.on_event;
  Object.defineProperty(global, "__eventfold", {
    value: {
      definition: function () {
        return JSON.stringify(definition);
      },
      setEmitEnabled: function (enabled) {
        emitEnabled = enabled;
      },
      handleBatch: handleBatch,
      eventInProgress: function () {
        return eventInProgress;
      },
      handleDeleted: handleDeleted,
      takeChanges: takeChanges,
      loadState: loadState,
      loadShared: loadShared,
      stateOf: stateOf,
      resultOf: resultOfPartition,
    },
    enumerable: false,
  });
})();
