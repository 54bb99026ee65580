//! Many objects with the same own fields, made by the host for a call into
//! the runtime (a projection's batch of events).
//!
//! The one place this crate goes below `rquickjs` to QuickJS's C API. Made
//! through `Object::set`, each field costs a duplicated and freed field
//! name, a duplicated and freed context around every value made, and a walk
//! up the prototype chain looking for a setter; at about half a million
//! objects of eleven fields a second, going without them made a counting
//! projection 1.15–1.29× faster. Here the names are made once, values are
//! made and handed over without a wrapper, and each field is defined on the
//! new object, which looks at no prototype. What QuickJS does with them is
//! the same: the objects take the same shapes, in the same order of fields.
#![allow(unsafe_code)]

use std::ffi::c_int;

use rquickjs::{Array, Ctx, Error, Object, Value, qjs};

/// One field's value.
#[derive(Debug, Clone, Copy)]
pub enum Field<'a> {
    /// A string made for this object.
    Text(&'a str),
    /// A string that neighbouring objects often share (a stream name, an
    /// event type): made again only when it differs from this field's text
    /// in the object made before.
    SharedText(&'a str),
    Bool(bool),
    Number(f64),
    Null,
}

/// Makes objects on one prototype with the own fields `names`, in that
/// order, and hands them over as one array.
pub struct ObjectBatch<'js, const N: usize> {
    ctx: Ctx<'js>,
    // Held so that the raw prototype handed to QuickJS stays alive.
    prototype: Object<'js>,
    names: [qjs::JSAtom; N],
    made: usize,
    // Owned values: each is freed once, by `finish` handing them over or by
    // `drop`.
    objects: Vec<qjs::JSValue>,
    shared: [Option<(String, qjs::JSValue)>; N],
}

impl<'js, const N: usize> ObjectBatch<'js, N> {
    pub fn new(ctx: &Ctx<'js>, prototype: &Object<'js>, names: [&str; N], capacity: usize) -> rquickjs::Result<Self> {
        let mut batch = Self {
            ctx: ctx.clone(),
            prototype: prototype.clone(),
            names: [qjs::JS_ATOM_NULL as qjs::JSAtom; N],
            made: 0,
            objects: Vec::with_capacity(capacity),
            shared: std::array::from_fn(|_| None),
        };
        for (slot, name) in batch.names.iter_mut().zip(names) {
            // SAFETY: the context is live for 'js; the pointer and length
            // are those of a valid UTF-8 string.
            let atom =
                unsafe { qjs::JS_NewAtomLen(batch.ctx.as_raw().as_ptr(), name.as_ptr().cast(), name.len() as _) };
            if atom == qjs::JS_ATOM_NULL as qjs::JSAtom {
                return Err(Error::Exception);
            }
            *slot = atom;
            batch.made += 1;
        }
        Ok(batch)
    }

    /// Appends `null` (an entry the callee skips).
    pub fn push_null(&mut self) {
        self.objects.push(qjs::JS_NULL);
    }

    /// Appends an object with `fields`, in the order of the names.
    pub fn push(&mut self, fields: [Field<'_>; N]) -> rquickjs::Result<()> {
        let ctx = self.ctx.as_raw().as_ptr();
        // SAFETY: the prototype is an object of this runtime, held by self.
        let object = unsafe { qjs::JS_NewObjectProto(ctx, self.prototype.as_raw()) };
        // SAFETY: a value just returned by QuickJS.
        if unsafe { qjs::JS_IsException(object) } {
            return Err(Error::Exception);
        }
        // Owned from here: freed with the batch whatever happens next.
        self.objects.push(object);
        for (index, field) in fields.into_iter().enumerate() {
            let value = self.value(index, field)?;
            // SAFETY: `value` is owned and handed over (QuickJS frees it,
            // on failure too); the name is an atom held by self.
            let defined = unsafe {
                qjs::JS_DefinePropertyValue(ctx, object, self.names[index], value, qjs::JS_PROP_C_W_E as c_int)
            };
            if defined < 0 {
                return Err(Error::Exception);
            }
        }
        Ok(())
    }

    /// The objects made, in order, as one array.
    pub fn finish(mut self) -> rquickjs::Result<Array<'js>> {
        let count = c_int::try_from(self.objects.len()).map_err(|_| Error::new_from_js("batch", "array"))?;
        let objects = std::mem::take(&mut self.objects);
        // SAFETY: the values are owned and handed over: QuickJS keeps them
        // in the array or, when it cannot make it, frees them.
        let array = unsafe { qjs::JS_NewArrayFrom(self.ctx.as_raw().as_ptr(), count, objects.as_ptr()) };
        // SAFETY: a value just returned by QuickJS.
        if unsafe { qjs::JS_IsException(array) } {
            return Err(Error::Exception);
        }
        // SAFETY: an owned value of this runtime, now owned by the wrapper.
        let array = unsafe { Value::from_raw(self.ctx.clone(), array) };
        array.into_array().ok_or_else(|| Error::new_from_js("value", "array"))
    }

    /// An owned value for field `index`.
    fn value(&mut self, index: usize, field: Field<'_>) -> rquickjs::Result<qjs::JSValue> {
        let ctx = self.ctx.as_raw().as_ptr();
        match field {
            Field::Text(text) => new_string(ctx, text),
            Field::SharedText(text) => {
                if let Some((last, value)) = &self.shared[index]
                    && last == text
                {
                    // SAFETY: a value of this runtime held by self.
                    return Ok(unsafe { qjs::JS_DupValue(ctx, *value) });
                }
                let value = new_string(ctx, text)?;
                let mut last = match self.shared[index].take() {
                    Some((last, old)) => {
                        // SAFETY: an owned value no longer kept.
                        unsafe { qjs::JS_FreeValue(ctx, old) };
                        last
                    }
                    None => String::new(),
                };
                last.clear();
                last.push_str(text);
                // SAFETY: as above; one reference kept, one handed over.
                let handed = unsafe { qjs::JS_DupValue(ctx, value) };
                self.shared[index] = Some((last, value));
                Ok(handed)
            }
            Field::Bool(value) => Ok(qjs::JS_MKVAL(qjs::JS_TAG_BOOL, c_int::from(value))),
            Field::Number(value) => Ok(number(value)),
            Field::Null => Ok(qjs::JS_NULL),
        }
    }
}

impl<const N: usize> Drop for ObjectBatch<'_, N> {
    fn drop(&mut self) {
        let ctx = self.ctx.as_raw().as_ptr();
        for object in self.objects.drain(..) {
            // SAFETY: owned values not handed over.
            unsafe { qjs::JS_FreeValue(ctx, object) };
        }
        for (_, value) in self.shared.iter_mut().filter_map(Option::take) {
            // SAFETY: as above.
            unsafe { qjs::JS_FreeValue(ctx, value) };
        }
        for atom in &self.names[..self.made] {
            // SAFETY: atoms made by `new` and held since.
            unsafe { qjs::JS_FreeAtom(ctx, *atom) };
        }
    }
}

fn new_string(ctx: *mut qjs::JSContext, text: &str) -> rquickjs::Result<qjs::JSValue> {
    // SAFETY: the context is live (the caller holds its `Ctx`); the pointer
    // and length are those of a valid UTF-8 string.
    let value = unsafe { qjs::JS_NewStringLen(ctx, text.as_ptr().cast(), text.len() as _) };
    // SAFETY: a value just returned by QuickJS.
    if unsafe { qjs::JS_IsException(value) } {
        return Err(Error::Exception);
    }
    Ok(value)
}

/// An integer as QuickJS's small integer where it fits (as QuickJS itself
/// stores one), any other number as a float.
fn number(value: f64) -> qjs::JSValue {
    let small = value as i32;
    if f64::from(small) == value && !(value == 0.0 && value.is_sign_negative()) {
        qjs::JS_MKVAL(qjs::JS_TAG_INT, small)
    } else {
        qjs::JS_NewFloat64(value)
    }
}

#[cfg(test)]
mod tests {
    use rquickjs::{CatchResultExt, Function};

    use super::*;
    use crate::BoundedRuntime;

    const NAMES: [&str; 5] = ["stream", "body", "flag", "n", "nothing"];

    fn describe<'js>(ctx: &Ctx<'js>, batch: Array<'js>) -> String {
        let show: Function<'_> = ctx
            .eval(
                "(function (batch, proto) { return JSON.stringify(batch.map(function (o) {
                    return o === null ? null : [Object.keys(o), Object.getPrototypeOf(o) === proto,
                        o.stream, o.body, o.flag, o.n, Object.is(o.n, -0), o.nothing, o.kind()];
                })); })",
            )
            .expect("compiles");
        let proto: Object<'_> = ctx.globals().get("proto").expect("the prototype");
        show.call((batch, proto)).expect("shows")
    }

    #[test]
    fn objects_have_the_fields_in_order_on_the_prototype_and_shared_texts_follow_changes() {
        let runtime = BoundedRuntime::new(16 << 20, 512 * 1024).expect("a runtime");
        let shown = runtime.context().with(|ctx| {
            let proto: Object<'_> =
                ctx.eval("var proto = { kind: function () { return typeof this.n; } }; proto").expect("a prototype");
            let mut batch = ObjectBatch::new(&ctx, &proto, NAMES, 4).expect("a batch");
            batch
                .push([Field::SharedText("a-1"), Field::Text("{}"), Field::Bool(true), Field::Number(7.0), Field::Null])
                .expect("made");
            batch.push_null();
            batch
                .push([
                    Field::SharedText("a-1"),
                    Field::Text("é✓"),
                    Field::Bool(false),
                    Field::Number(-0.0),
                    Field::Null,
                ])
                .expect("made");
            batch
                .push([
                    Field::SharedText("b-2"),
                    Field::Text(""),
                    Field::Bool(true),
                    Field::Number(2.5e10),
                    Field::Null,
                ])
                .expect("made");
            let batch = batch.finish().expect("an array");
            describe(&ctx, batch)
        });
        let keys = r#"["stream","body","flag","n","nothing"]"#;
        assert_eq!(
            shown,
            format!(
                r#"[[{keys},true,"a-1","{{}}",true,7,false,null,"number"],null,[{keys},true,"a-1","é✓",false,0,true,null,"number"],[{keys},true,"b-2","",true,25000000000,false,null,"number"]]"#
            )
        );
    }

    #[test]
    fn a_batch_dropped_unfinished_or_out_of_memory_frees_what_it_made() {
        let runtime = BoundedRuntime::new(2 << 20, 512 * 1024).expect("a runtime");
        runtime.context().with(|ctx| {
            let proto = Object::new(ctx.clone()).expect("a prototype");
            let mut batch = ObjectBatch::new(&ctx, &proto, NAMES, 0).expect("a batch");
            batch
                .push([Field::SharedText("s"), Field::Text("x"), Field::Bool(true), Field::Number(1.0), Field::Null])
                .expect("made");
            drop(batch);

            // Past the heap cap: an error, the pending exception caught,
            // every value made so far freed.
            let big = "x".repeat(256 * 1024);
            let mut batch = ObjectBatch::new(&ctx, &proto, NAMES, 0).expect("a batch");
            let failed = (0..64).find_map(|_| {
                batch
                    .push([
                        Field::SharedText("s"),
                        Field::Text(&big),
                        Field::Bool(true),
                        Field::Number(1.0),
                        Field::Null,
                    ])
                    .err()
            });
            assert!(matches!(failed, Some(Error::Exception)), "{failed:?}");
            // The exception QuickJS raised is pending: taken, as a caller would.
            let _ = ctx.catch();
            drop(batch);
            let after = ctx.eval::<i32, _>("1 + 1").catch(&ctx).expect("the runtime goes on");
            assert_eq!(after, 2);
        });
        // Dropping the runtime checks (in QuickJS's own assertions) that no
        // object is left alive.
        drop(runtime);
    }
}
