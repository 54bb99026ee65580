//! `?embed=`: how much of each event a feed's entries carry, KurrentDB's
//! levels in order: `None` (links only), `Content` (the event as Atom
//! content), `Rich` (its numbers and type), `Body` (and its data and
//! metadata as text), `PrettyBody` (indented), `TryHarder` (and data not
//! marked JSON, when it parses as JSON).

use super::errors::AtomError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Embed {
    None,
    Content,
    Rich,
    Body,
    PrettyBody,
    TryHarder,
}

impl Embed {
    /// The level named by `?embed=` (any case); `None` when absent.
    pub fn parse(value: Option<&str>) -> Result<Self, AtomError> {
        let Some(value) = value else { return Ok(Embed::None) };
        match value.to_ascii_lowercase().as_str() {
            "none" => Ok(Embed::None),
            "content" => Ok(Embed::Content),
            "rich" => Ok(Embed::Rich),
            "body" => Ok(Embed::Body),
            "prettybody" => Ok(Embed::PrettyBody),
            "tryharder" => Ok(Embed::TryHarder),
            _ => Err(AtomError::BadRequest(format!(
                "embed `{value}` is not one of None, Content, Rich, Body, PrettyBody, TryHarder"
            ))),
        }
    }

    pub fn tag(self) -> &'static str {
        match self {
            Embed::None => "none",
            Embed::Content => "content",
            Embed::Rich => "rich",
            Embed::Body => "body",
            Embed::PrettyBody => "prettybody",
            Embed::TryHarder => "tryharder",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_named_in_any_case_and_ordered() {
        assert_eq!(Embed::parse(None), Ok(Embed::None));
        assert_eq!(Embed::parse(Some("body")), Ok(Embed::Body));
        assert_eq!(Embed::parse(Some("TryHarder")), Ok(Embed::TryHarder));
        assert!(Embed::parse(Some("everything")).is_err());
        assert!(Embed::Rich > Embed::Content && Embed::PrettyBody > Embed::Body);
    }
}
