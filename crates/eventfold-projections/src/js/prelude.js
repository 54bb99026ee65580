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
    var value;
    try {
      value = JSON.parse(text);
    } catch (error) {
      return null;
    }
    if (++parsedSinceKept >= PARSES_PER_KEPT_SHAPE) {
      keepShapes(value);
    }
    return value;
  }

  // Bodies of one event type mostly share their fields, but QuickJS frees
  // a shape no object holds (see `EVENT_SHAPE_STEPS` below), so parsing
  // each body would make every shape on the way to its last again. Every
  // `PARSES_PER_KEPT_SHAPE` parses, the shapes of the body just parsed are
  // held (an object at each step), the last `KEPT_BODY_SHAPES` bodies' at
  // most: what is parsed most is the likeliest to be held.
  var PARSES_PER_KEPT_SHAPE = 1024;
  var KEPT_BODY_SHAPES = 8;
  var MAX_KEPT_FIELDS = 32;
  var parsedSinceKept = PARSES_PER_KEPT_SHAPE - 1;
  var keptBodyShapes = [];
  function keepShapes(value) {
    parsedSinceKept = 0;
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      return;
    }
    var fields = Object.keys(value);
    // An assignment to `__proto__` would set the prototype, not a field.
    if (fields.length > MAX_KEPT_FIELDS || fields.indexOf("__proto__") >= 0) {
      return;
    }
    var steps = [];
    for (var count = 1; count <= fields.length; count++) {
      var step = {};
      for (var field = 0; field < count; field++) {
        step[fields[field]] = null;
      }
      steps.push(step);
    }
    keptBodyShapes.push(steps);
    if (keptBodyShapes.length > KEPT_BODY_SHAPES) {
      keptBodyShapes.shift();
    }
  }

  // One event as handlers see it. Its plain fields (`EVENT_FIELDS`) are
  // its own, enumerable and writable, set in the order the reference
  // server sets them, so that `Object.keys(e)`, `{...e}` and `for...in`
  // list them. `data`/`body`, `metadata` and `linkMetadata` parse on first
  // read, through accessors on the shared prototype, and then become the
  // event's own fields, as the reference server's do: a handler that
  // ignores them costs no parsing. The host makes each event's object on
  // `EventPrototype` (runtime/events.rs), its fields set in this order.
  var EVENT_FIELDS = ["partition", "bodyRaw", "metadataRaw", "streamId", "eventId", "eventType", "linkMetadataRaw",
    "isJson", "category", "sequenceNumber", "created"];
  var EventPrototype = {};
  // One descriptor for every own field made: a literal a call would be an
  // object made, field by field, each time a body is read.
  var OWN_VALUE = { value: null, writable: true, enumerable: true, configurable: true };
  function ownValue(object, name, value) {
    OWN_VALUE.value = value;
    Object.defineProperty(object, name, OWN_VALUE);
    OWN_VALUE.value = null;
  }
  function lazyField(name, compute) {
    Object.defineProperty(EventPrototype, name, {
      get: function () {
        var value = compute(this);
        ownValue(this, name, value);
        return value;
      },
      set: function (value) {
        ownValue(this, name, value);
      },
      enumerable: true,
      configurable: true,
    });
  }
  function parsedBody(event) {
    return event.isJson ? parseOrNull(event.bodyRaw) : null;
  }
  // `data` and `body` are one parsed object: whichever is read first
  // parses, the other then shares it.
  lazyField("data", function (event) {
    var body = parsedBody(event);
    ownValue(event, "body", body);
    return body;
  });
  lazyField("body", function (event) {
    var body = parsedBody(event);
    ownValue(event, "data", body);
    return body;
  });
  lazyField("metadata", function (event) {
    return parseOrNull(event.metadataRaw);
  });
  lazyField("linkMetadata", function (event) {
    return parseOrNull(event.linkMetadataRaw);
  });

  // Storing or logging the whole event (`s.events.push(e)`) writes its
  // parsed fields too, as the reference server's event object does.
  Object.defineProperty(EventPrototype, "toJSON", {
    value: function () {
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
    },
    writable: true,
    enumerable: false,
    configurable: true,
  });

  // QuickJS shares an object's shape (its property names and their
  // order) between objects, but keeps only the shapes some object holds:
  // each event would make and free again every shape on its way to the
  // last, a field at a time. An object held at each step keeps them all
  // (held by the host's API below: a variable no function uses is gone
  // once the prelude has run). Reading `data` first makes `body` then
  // `data` the event's own (and reading `body` first the other way round):
  // those steps are held too.
  var EVENT_SHAPE_STEPS = (function () {
    var steps = [];
    var orders = [EVENT_FIELDS.concat(["body", "data"]), EVENT_FIELDS.concat(["data", "body"])];
    for (var order = 0; order < orders.length; order++) {
      var fields = orders[order];
      for (var count = order === 0 ? 0 : EVENT_FIELDS.length + 1; count <= fields.length; count++) {
        var step = Object.create(EventPrototype);
        for (var field = 0; field < count; field++) {
          ownValue(step, fields[field], null);
        }
        steps.push(step);
      }
    }
    return steps;
  })();

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

  // The handler for events of `eventType`: its own, else `$any`, else
  // none.
  function handlerFor(eventType) {
    var handler = handlers[eventType];
    if (typeof handler === "function" && eventType.charAt(0) !== "$") {
      return handler;
    }
    return typeof handlers.$any === "function" ? handlers.$any : null;
  }

  // Read before any query runs: a query that replaces `Date.now` cannot
  // keep the host's deadline from firing.
  var now = Date.now;
  var eventInProgress = 0;

  // Handles the events of a batch in order, as the host made them (`null`
  // for an event handlers never see: a JSON event with an empty body).
  // Before an event, when `renewEveryMs` have passed since the last
  // renewal, `renew` (the host's) arms the per-event deadline again, so
  // that no event is cut short by the time the events before it took.
  // Answers how many events were handled and the partitions they fell in,
  // each once, in the order first met.
  //
  // Neighbouring events mostly share their partition and type: the
  // partition's state, whether it is marked changed and the type's handler
  // are looked up again only when they change. Nothing outside this call
  // touches them while it runs.
  function handleBatch(events, renew, renewEveryMs) {
    var count = events.length;
    var handled = 0;
    var partitions = [];
    var seen = new Set();
    var partitioned = definition.partitioned;
    var biState = definition.options.biState;
    var when = definition.when;
    var created = when && typeof handlers.$created === "function" ? handlers.$created : null;
    var partition = null;
    var state;
    var marked = false;
    var lastType = null;
    var handler = null;
    // Read before renewing: the host's deadline then never starts before
    // the time this side counts from.
    var renewed = now();
    renew();
    for (var index = 0; index < count; index++) {
      eventInProgress = index;
      var at = now();
      if (at - renewed >= renewEveryMs) {
        renewed = at;
        renew();
      }
      var event = events[index];
      if (event === null) {
        continue;
      }
      var eventType = event.eventType;
      current = event;
      var key = partitioned ? partitionOf(event) : "";
      if (key === null) {
        current = null;
        continue;
      }
      if (partitioned) {
        event.partition = key;
      }
      var fresh = false;
      if (key !== partition) {
        partition = key;
        marked = false;
        if (!seen.has(key)) {
          seen.add(key);
          partitions.push(key);
        }
        fresh = !states.has(key);
        if (fresh) {
          states.set(key, initialState());
          dirty.add(key);
          marked = true;
        }
        state = states.get(key);
      }
      handled++;
      if (!when) {
        state = event.data;
        states.set(key, state);
      } else {
        if (fresh && created !== null) {
          state = run(created, key, state, event, biState);
        }
        if (eventType !== lastType) {
          lastType = eventType;
          handler = handlerFor(eventType);
        }
        if (handler === null) {
          current = null;
          continue;
        }
        if (biState) {
          call(handler, key, event);
          state = states.get(key);
        } else {
          var next = handler(state, event);
          if (next !== undefined) {
            state = next;
            states.set(key, next);
          }
        }
      }
      if (!marked) {
        dirty.add(key);
        marked = true;
      }
      current = null;
    }
    return [handled, partitions];
  }

  // Runs one handler on a partition's state; answers the state after it.
  function run(handler, partition, state, event, biState) {
    if (biState) {
      call(handler, partition, event);
      return states.get(partition);
    }
    var next = handler(state, event);
    if (next === undefined) {
      return state;
    }
    states.set(partition, next);
    return next;
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
  // What a query throws that is not an Error (`throw null`, a number, a
  // plain object) is rethrown as a string that shows it, so the host
  // never mistakes it for the engine's own failure: QuickJS throws null
  // only when it cannot even allocate the error saying it is out of
  // memory. A string thrown stays as it was.
  function shown(thrown) {
    if (thrown instanceof Error || typeof thrown === "string") {
      return thrown;
    }
    if (thrown === undefined || typeof thrown === "function" || typeof thrown === "symbol") {
      return String(thrown);
    }
    try {
      var text = JSON.stringify(thrown);
      return text === undefined ? String(thrown) : text;
    } catch (error) {
      return Object.prototype.toString.call(thrown);
    }
  }
  function guarded(fn) {
    return function () {
      try {
        return fn.apply(null, arguments);
      } catch (thrown) {
        throw shown(thrown);
      }
    };
  }

  Object.defineProperty(global, "__eventfold", {
    value: {
      definition: function () {
        return JSON.stringify(definition);
      },
      setEmitEnabled: function (enabled) {
        emitEnabled = enabled;
      },
      handleBatch: guarded(handleBatch),
      eventInProgress: function () {
        return eventInProgress;
      },
      handleDeleted: guarded(handleDeleted),
      takeChanges: guarded(takeChanges),
      loadState: guarded(loadState),
      loadShared: guarded(loadShared),
      stateOf: guarded(stateOf),
      resultOf: guarded(resultOfPartition),
      // For measuring the engine alone (`runtime::ceiling`).
      handlerFor: handlerFor,
      // The events' prototype, their fields' order and the shapes they
      // take (runtime/events.rs).
      eventPrototype: EventPrototype,
      eventFields: EVENT_FIELDS,
      eventShapeSteps: EVENT_SHAPE_STEPS,
      initialState: initialState,
    },
    enumerable: false,
  });
})();
