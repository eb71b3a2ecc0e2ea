//! serde to and from plain JS values, the few shapes the package needs: what the API hands
//! to JS (members, events, stats) and the signaling messages, which the browser writes and
//! reads as JSON (`JSON.stringify`/`JSON.parse`).
//!
//! In place of serde-wasm-bindgen for size (docs/benchmarks.md, browser package size): its
//! errors carry serde's messages, and formatting those (`invalid type: floating point 1.5,
//! ...`) keeps float formatting in the package, 14 KB raw by itself. Every caller here only
//! needs to know *that* a value did not fit, so [`Unfit`] carries no message and none is
//! ever formatted.
//!
//! Writing: structs and maps become objects (keys must be strings), sequences and tuples
//! arrays, bytes a `Uint8Array`, integers numbers (refused above 2^53, where a number would
//! round), unit variants their name, `None` either `null` or `undefined` ([`Writer`]).
//! Reading: strings, numbers (whole numbers as integers), booleans, `null`/`undefined`
//! (as none or unit), arrays and objects (their own enumerable string keys); anything else
//! is refused.

use core::fmt;

use js_sys::{Array, Object, Reflect, Uint8Array};
use serde::de::{self, DeserializeOwned, Visitor};
use serde::ser::{self, Serialize};
use wasm_bindgen::{JsCast, JsValue};

/// A value did not fit the other side (a serializer or deserializer error, without its
/// message: see the module docs).
#[derive(Debug)]
pub struct Unfit;

impl fmt::Display for Unfit {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("value does not fit")
    }
}

impl std::error::Error for Unfit {}

impl ser::Error for Unfit {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Unfit
    }
}

impl de::Error for Unfit {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Unfit
    }
}

/// Largest integer a JS number holds exactly (`Number.MAX_SAFE_INTEGER`).
const MAX_SAFE: f64 = 9_007_199_254_740_991.0;

/// `value` as a plain JS value, `None` written as `none`.
pub fn to_value<T: Serialize + ?Sized>(value: &T, none: &JsValue) -> Result<JsValue, Unfit> {
    value.serialize(Writer { none })
}

/// A `T` read from a plain JS value.
pub fn from_value<T: DeserializeOwned>(value: JsValue) -> Result<T, Unfit> {
    T::deserialize(Reader {
        value,
        depth: MAX_DEPTH,
    })
}

/// The serializer: builds JS values; `None` becomes `none` (`null` for the API, whose
/// declarations say so; `undefined` for JSON, where `JSON.stringify` then leaves the field
/// out).
#[derive(Clone, Copy)]
pub struct Writer<'a> {
    none: &'a JsValue,
}

fn number(n: f64) -> Result<JsValue, Unfit> {
    if n.abs() <= MAX_SAFE {
        Ok(JsValue::from_f64(n))
    } else {
        Err(Unfit)
    }
}

/// An array being written.
pub struct SeqWriter<'a> {
    writer: Writer<'a>,
    array: Array,
}

/// An object being written; `key` holds a map key until its value comes.
pub struct ObjectWriter<'a> {
    writer: Writer<'a>,
    object: Object,
    key: JsValue,
}

impl<'a> ser::Serializer for Writer<'a> {
    type Ok = JsValue;
    type Error = Unfit;
    type SerializeSeq = SeqWriter<'a>;
    type SerializeTuple = SeqWriter<'a>;
    type SerializeTupleStruct = SeqWriter<'a>;
    type SerializeTupleVariant = ser::Impossible<JsValue, Unfit>;
    type SerializeMap = ObjectWriter<'a>;
    type SerializeStruct = ObjectWriter<'a>;
    type SerializeStructVariant = ser::Impossible<JsValue, Unfit>;

    fn serialize_bool(self, v: bool) -> Result<JsValue, Unfit> {
        Ok(JsValue::from_bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<JsValue, Unfit> {
        number(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<JsValue, Unfit> {
        number(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<JsValue, Unfit> {
        number(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<JsValue, Unfit> {
        number(v as f64)
    }
    fn serialize_u8(self, v: u8) -> Result<JsValue, Unfit> {
        number(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<JsValue, Unfit> {
        number(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<JsValue, Unfit> {
        number(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<JsValue, Unfit> {
        number(v as f64)
    }
    fn serialize_f32(self, v: f32) -> Result<JsValue, Unfit> {
        Ok(JsValue::from_f64(v.into()))
    }
    fn serialize_f64(self, v: f64) -> Result<JsValue, Unfit> {
        Ok(JsValue::from_f64(v))
    }
    fn serialize_char(self, v: char) -> Result<JsValue, Unfit> {
        Ok(JsValue::from_str(v.encode_utf8(&mut [0; 4])))
    }
    fn serialize_str(self, v: &str) -> Result<JsValue, Unfit> {
        Ok(JsValue::from_str(v))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<JsValue, Unfit> {
        Ok(Uint8Array::from(v).into())
    }
    fn serialize_none(self) -> Result<JsValue, Unfit> {
        Ok(self.none.clone())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<JsValue, Unfit> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<JsValue, Unfit> {
        Ok(JsValue::NULL)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<JsValue, Unfit> {
        Ok(JsValue::NULL)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<JsValue, Unfit> {
        Ok(JsValue::from_str(variant))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<JsValue, Unfit> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<JsValue, Unfit> {
        let object = Object::new();
        set(
            &object,
            &JsValue::from_str(variant),
            &value.serialize(self)?,
        )?;
        Ok(object.into())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<SeqWriter<'a>, Unfit> {
        Ok(SeqWriter {
            writer: self,
            array: Array::new(),
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqWriter<'a>, Unfit> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<SeqWriter<'a>, Unfit> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Unfit> {
        Err(Unfit)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<ObjectWriter<'a>, Unfit> {
        Ok(ObjectWriter {
            writer: self,
            object: Object::new(),
            key: JsValue::UNDEFINED,
        })
    }
    fn serialize_struct(self, _: &'static str, len: usize) -> Result<ObjectWriter<'a>, Unfit> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Unfit> {
        Err(Unfit)
    }
}

fn set(object: &Object, key: &JsValue, value: &JsValue) -> Result<(), Unfit> {
    Reflect::set(object, key, value)
        .map(drop)
        .map_err(|_| Unfit)
}

/// The three serde traits of arrays (sequences, tuples, tuple structs), each pushing
/// onto the [`SeqWriter`]'s array.
macro_rules! seq_writer {
    ($($serialize:ident::$element:ident),*) => {$(
        impl ser::$serialize for SeqWriter<'_> {
            type Ok = JsValue;
            type Error = Unfit;
            fn $element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unfit> {
                self.array.push(&value.serialize(self.writer)?);
                Ok(())
            }
            fn end(self) -> Result<JsValue, Unfit> {
                Ok(self.array.into())
            }
        }
    )*};
}

seq_writer!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field
);

impl ser::SerializeMap for ObjectWriter<'_> {
    type Ok = JsValue;
    type Error = Unfit;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Unfit> {
        let key = key.serialize(self.writer)?;
        if !key.is_string() {
            return Err(Unfit);
        }
        self.key = key;
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unfit> {
        set(&self.object, &self.key, &value.serialize(self.writer)?)
    }
    fn end(self) -> Result<JsValue, Unfit> {
        Ok(self.object.into())
    }
}

impl ser::SerializeStruct for ObjectWriter<'_> {
    type Ok = JsValue;
    type Error = Unfit;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Unfit> {
        set(
            &self.object,
            &JsValue::from_str(key),
            &value.serialize(self.writer)?,
        )
    }
    fn end(self) -> Result<JsValue, Unfit> {
        Ok(self.object.into())
    }
}

/// Arrays and objects nested deeper than this are refused. Reading recurses once per
/// level (also for fields that are skipped), and what is read comes from the network (a
/// relayed signal is any JSON another member sent, up to the server's frame limit), so
/// the depth must not be the sender's to choose. The signaling messages nest three deep.
const MAX_DEPTH: u32 = 32;

/// The deserializer: reads a JS value by what it is (`deserialize_any`); `depth` is how
/// many more levels of arrays and objects it may enter.
pub struct Reader {
    value: JsValue,
    depth: u32,
}

/// What a JS value is, found by one function for every type read (the part of reading
/// that does not depend on the type keeps to one copy in the package).
enum Kind {
    Text(String),
    Whole(u64),
    Negative(i64),
    Float(f64),
    Bool(bool),
    Nothing,
    List(Array),
    /// `Object.entries` of an object: `[key, value]` pairs.
    Object(Array),
    Other,
}

#[inline(never)]
fn kind(v: &JsValue) -> Kind {
    if let Some(text) = v.as_string() {
        Kind::Text(text)
    } else if let Some(n) = v.as_f64() {
        if n.fract() == 0.0 && n.abs() <= MAX_SAFE {
            if n >= 0.0 {
                Kind::Whole(n as u64)
            } else {
                Kind::Negative(n as i64)
            }
        } else {
            Kind::Float(n)
        }
    } else if let Some(b) = v.as_bool() {
        Kind::Bool(b)
    } else if v.is_null_or_undefined() {
        Kind::Nothing
    } else if Array::is_array(v) {
        Kind::List(v.clone().unchecked_into())
    } else if v.is_object() {
        Kind::Object(Object::entries(v.unchecked_ref()))
    } else {
        Kind::Other
    }
}

impl<'de> de::Deserializer<'de> for Reader {
    type Error = Unfit;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unfit> {
        let kind = kind(&self.value);
        if matches!(kind, Kind::List(_) | Kind::Object(_)) && self.depth == 0 {
            return Err(Unfit);
        }
        let depth = self.depth.saturating_sub(1);
        match kind {
            Kind::Text(text) => visitor.visit_string(text),
            Kind::Whole(n) => visitor.visit_u64(n),
            Kind::Negative(n) => visitor.visit_i64(n),
            Kind::Float(n) => visitor.visit_f64(n),
            Kind::Bool(b) => visitor.visit_bool(b),
            Kind::Nothing => visitor.visit_unit(),
            Kind::List(list) => visitor.visit_seq(Items {
                list,
                next: 0,
                depth,
            }),
            Kind::Object(entries) => visitor.visit_map(Entries {
                entries,
                next: 0,
                value: JsValue::UNDEFINED,
                depth,
            }),
            Kind::Other => Err(Unfit),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unfit> {
        if self.value.is_null_or_undefined() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier
        ignored_any
    }
}

/// An array's elements, in order, read with `depth` levels left.
struct Items {
    list: Array,
    next: u32,
    depth: u32,
}

impl<'de> de::SeqAccess<'de> for Items {
    type Error = Unfit;
    fn next_element_seed<T: de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Unfit> {
        if self.next >= self.list.length() {
            return Ok(None);
        }
        self.next += 1;
        seed.deserialize(Reader {
            value: self.list.get(self.next - 1),
            depth: self.depth,
        })
        .map(Some)
    }
}

/// An object's entries, in `Object.entries` order, read with `depth` levels left; `value`
/// waits for its key's reader.
struct Entries {
    entries: Array,
    next: u32,
    value: JsValue,
    depth: u32,
}

impl<'de> de::MapAccess<'de> for Entries {
    type Error = Unfit;
    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Unfit> {
        if self.next >= self.entries.length() {
            return Ok(None);
        }
        let pair: Array = self.entries.get(self.next).unchecked_into();
        self.next += 1;
        self.value = pair.get(1);
        seed.deserialize(Reader {
            value: pair.get(0),
            depth: self.depth,
        })
        .map(Some)
    }
    fn next_value_seed<V: de::DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Unfit> {
        seed.deserialize(Reader {
            value: core::mem::take(&mut self.value),
            depth: self.depth,
        })
    }
}
