//! Media types of KurrentDB's HTTP stream API, in both its old
//! (`vnd.eventstore.*`) and new (`vnd.kurrent.*`) spellings. Only the JSON
//! flavours are served: a client that accepts nothing but Atom XML is
//! answered 406.

use axum::http::{HeaderMap, header};

use super::errors::AtomError;

/// What a response is written as, chosen from the request's `Accept`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    EventStoreAtom,
    KurrentAtom,
    /// Plain JSON: a feed as with Atom; a single event as its data alone.
    Json,
}

impl Flavour {
    pub fn content_type(self) -> &'static str {
        match self {
            Flavour::EventStoreAtom => "application/vnd.eventstore.atom+json; charset=utf-8",
            Flavour::KurrentAtom => "application/vnd.kurrent.atom+json; charset=utf-8",
            Flavour::Json => "application/json; charset=utf-8",
        }
    }

    /// A short name, part of the head page's ETag: one stream state has a
    /// different body in each flavour.
    pub fn tag(self) -> &'static str {
        match self {
            Flavour::EventStoreAtom => "eventstore-atom",
            Flavour::KurrentAtom => "kurrent-atom",
            Flavour::Json => "json",
        }
    }

    fn of_media_range(range: &str) -> Option<Option<Flavour>> {
        match range {
            "application/vnd.eventstore.atom+json" | "*/*" | "application/*" => Some(Some(Flavour::EventStoreAtom)),
            "application/vnd.kurrent.atom+json" => Some(Some(Flavour::KurrentAtom)),
            "application/json" | "text/json" => Some(Some(Flavour::Json)),
            // Known but not served.
            "application/atom+xml"
            | "application/vnd.eventstore.atom+xml"
            | "application/vnd.kurrent.atom+xml"
            | "application/xml"
            | "text/xml"
            | "text/html" => Some(None),
            _ => None,
        }
    }
}

/// The flavour to answer in: `?format=json` decides first, then the first
/// JSON flavour `Accept` names; no `Accept` is Atom JSON.
pub fn negotiate(headers: &HeaderMap, format: Option<&str>) -> Result<Flavour, AtomError> {
    match format {
        Some("json") => return Ok(Flavour::Json),
        Some("xml") => return Err(AtomError::NotAcceptable),
        Some(other) => return Err(AtomError::BadRequest(format!("unknown format `{other}`: only `json` is served"))),
        None => {}
    }
    let Some(accept) = headers.get(header::ACCEPT) else {
        return Ok(Flavour::EventStoreAtom);
    };
    let accept = accept.to_str().map_err(|_| AtomError::BadRequest("the Accept header is not text".into()))?;
    let ranges = accept.split(',').map(|range| range.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
    let mut any_range = false;
    for range in ranges.filter(|range| !range.is_empty()) {
        any_range = true;
        if let Some(Some(flavour)) = Flavour::of_media_range(&range) {
            return Ok(flavour);
        }
    }
    if any_range { Err(AtomError::NotAcceptable) } else { Ok(Flavour::EventStoreAtom) }
}

/// What a posted body is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Posted {
    /// An array of events, each with its id and type.
    Events,
    /// One event's JSON data; its id and type come in headers.
    JsonData,
    /// One event's bytes, not JSON; its id and type come in headers.
    BinaryData,
}

pub fn posted(headers: &HeaderMap) -> Result<Posted, AtomError> {
    let Some(content_type) = headers.get(header::CONTENT_TYPE) else {
        return Err(AtomError::UnsupportedMediaType("a Content-Type is required".into()));
    };
    let content_type = content_type
        .to_str()
        .map_err(|_| AtomError::UnsupportedMediaType("the Content-Type header is not text".into()))?;
    let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match media.as_str() {
        "application/vnd.eventstore.events+json" | "application/vnd.kurrent.events+json" => Ok(Posted::Events),
        "application/json" | "text/json" => Ok(Posted::JsonData),
        "application/octet-stream" => Ok(Posted::BinaryData),
        _ => Err(AtomError::UnsupportedMediaType(format!(
            "Content-Type `{media}` is not served: use application/vnd.eventstore.events+json, \
             application/vnd.kurrent.events+json, application/json or application/octet-stream"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn accepting(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn json_flavours_are_served_and_xml_is_not_acceptable() {
        assert_eq!(negotiate(&HeaderMap::new(), None), Ok(Flavour::EventStoreAtom));
        assert_eq!(negotiate(&accepting("application/vnd.kurrent.atom+json"), None), Ok(Flavour::KurrentAtom));
        assert_eq!(negotiate(&accepting("application/json;q=0.9"), None), Ok(Flavour::Json));
        assert_eq!(negotiate(&accepting("application/atom+xml, */*"), None), Ok(Flavour::EventStoreAtom));
        assert_eq!(negotiate(&accepting("application/vnd.eventstore.atom+xml"), None), Err(AtomError::NotAcceptable));
        assert_eq!(negotiate(&accepting("image/png"), None), Err(AtomError::NotAcceptable));
        assert_eq!(negotiate(&accepting("text/xml"), Some("json")), Ok(Flavour::Json));
        assert_eq!(negotiate(&HeaderMap::new(), Some("xml")), Err(AtomError::NotAcceptable));
    }
}
