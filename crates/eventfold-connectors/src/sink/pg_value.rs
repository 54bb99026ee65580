//! A statement parameter, converted from the event's JSON value to the
//! type PostgreSQL inferred for it at prepare time. A value that does not
//! fit (text for a bigint, a fraction for an integer) rejects the event.

use std::error::Error;

use bytes::{BufMut, BytesMut};
use serde_json::Value;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

#[derive(Debug)]
pub(crate) enum PgValue {
    Null,
    Bool(bool),
    I16(i16),
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
    Text(String),
    Json(Vec<u8>),
    Uuid([u8; 16]),
}

impl PgValue {
    pub fn convert(value: &Value, target: &Type) -> Result<Self, String> {
        if value.is_null() {
            return Ok(Self::Null);
        }
        let mismatch = || format!("{value} does not fit PostgreSQL type {target}");
        let integer = || value.as_i64().or_else(|| value.as_str().and_then(|text| text.parse().ok()));
        let float = || value.as_f64().or_else(|| value.as_str().and_then(|text| text.parse().ok()));
        Ok(match *target {
            Type::BOOL => Self::Bool(value.as_bool().ok_or_else(mismatch)?),
            Type::INT2 => Self::I16(integer().and_then(|number| i16::try_from(number).ok()).ok_or_else(mismatch)?),
            Type::INT4 => Self::I32(integer().and_then(|number| i32::try_from(number).ok()).ok_or_else(mismatch)?),
            Type::INT8 => Self::I64(integer().ok_or_else(mismatch)?),
            #[allow(clippy::cast_possible_truncation, reason = "float4 is what the statement asked for")]
            Type::FLOAT4 => Self::F32(float().ok_or_else(mismatch)? as f32),
            Type::FLOAT8 => Self::F64(float().ok_or_else(mismatch)?),
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => Self::Text(match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            }),
            Type::JSON | Type::JSONB => Self::Json(value.to_string().into_bytes()),
            Type::UUID => {
                let text = value.as_str().ok_or_else(mismatch)?;
                Self::Uuid(*uuid::Uuid::parse_str(text).map_err(|_| mismatch())?.as_bytes())
            }
            _ => {
                return Err(format!(
                    "parameters of type {target} are not supported; cast in the statement (`$1::text::{target}`)"
                ));
            }
        })
    }
}

impl ToSql for PgValue {
    fn to_sql(&self, target: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match self {
            Self::Null => Ok(IsNull::Yes),
            Self::Bool(value) => value.to_sql(target, out),
            Self::I16(value) => value.to_sql(target, out),
            Self::I32(value) => value.to_sql(target, out),
            Self::I64(value) => value.to_sql(target, out),
            Self::F32(value) => value.to_sql(target, out),
            Self::F64(value) => value.to_sql(target, out),
            Self::Text(value) => value.to_sql(target, out),
            Self::Json(bytes) => {
                // jsonb's binary form is a version byte, then the text.
                if *target == Type::JSONB {
                    out.put_u8(1);
                }
                out.put_slice(bytes);
                Ok(IsNull::No)
            }
            Self::Uuid(bytes) => {
                out.put_slice(bytes);
                Ok(IsNull::No)
            }
        }
    }

    /// Every value was converted for the type it is bound to.
    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_convert_to_the_statements_types() {
        assert!(matches!(PgValue::convert(&Value::from(5), &Type::INT8), Ok(PgValue::I64(5))));
        assert!(matches!(PgValue::convert(&Value::from("12"), &Type::INT4), Ok(PgValue::I32(12))));
        assert!(matches!(PgValue::convert(&Value::from(5), &Type::TEXT), Ok(PgValue::Text(text)) if text == "5"));
        assert!(matches!(PgValue::convert(&Value::Null, &Type::INT8), Ok(PgValue::Null)));
        assert!(matches!(PgValue::convert(&serde_json::json!({"a":1}), &Type::JSONB), Ok(PgValue::Json(_))));
        assert!(PgValue::convert(&Value::from("x"), &Type::INT8).expect_err("text").contains("int8"));
        assert!(PgValue::convert(&Value::from(70_000), &Type::INT2).is_err());
        assert!(PgValue::convert(&Value::from("nope"), &Type::UUID).is_err());
        assert!(PgValue::convert(&Value::from(1), &Type::NUMERIC).expect_err("numeric").contains("cast"));
    }
}
