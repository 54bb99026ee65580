//! Feeds and entries in KurrentDB's Atom JSON shape: a feed (`title`, `id`,
//! `updated`, `streamId`, `author`, `headOfStream`, `selfUrl`, `eTag`,
//! `links`, `entries` newest first) whose entries carry as much of each
//! event as the embed level asks.

use eventfold_store::{ContentType, RecordedEvent, ResolvedEvent};
use serde::Serialize;
use serde_json::value::RawValue;

use super::embed::Embed;
use super::links::stream_uri;
use crate::http::time::iso8601;

/// KurrentDB's author of every feed and entry.
const AUTHOR: Author = Author { name: "EventStore" };

/// What an empty feed reports as updated: .NET's smallest date.
const NEVER_UPDATED: &str = "0001-01-01T00:00:00Z";

#[derive(Clone, Copy, Serialize)]
pub struct Author {
    name: &'static str,
}

#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub uri: String,
    pub relation: &'static str,
}

impl Link {
    pub fn new(relation: &'static str, uri: String) -> Self {
        Self { uri, relation }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Feed {
    pub title: String,
    pub id: String,
    pub updated: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_id: Option<String>,
    pub author: Author,
    pub head_of_stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub self_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e_tag: Option<String>,
    pub links: Vec<Link>,
    pub entries: Vec<Entry>,
}

impl Feed {
    /// A feed titled `title` at `id`, updated when its newest entry was.
    pub fn new(title: String, id: String, newest: Option<&ResolvedEvent>) -> Self {
        Self {
            title,
            id,
            updated: newest.map_or_else(|| NEVER_UPDATED.to_owned(), updated),
            stream_id: None,
            author: AUTHOR,
            head_of_stream: false,
            self_url: None,
            e_tag: None,
            links: Vec::new(),
            entries: Vec::new(),
        }
    }
}

/// The event as the Atom `content` of an entry (`embed=content`, and a
/// single event read): its data and metadata as JSON where they are.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Content {
    event_stream_id: String,
    event_number: u64,
    event_type: String,
    event_id: String,
    data: Option<Box<RawValue>>,
    metadata: Option<Box<RawValue>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    #[serde(skip_serializing_if = "Option::is_none")]
    event_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_number: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    meta_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    link_meta_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_json: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_meta_data: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_link_meta_data: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    position_event_number: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    position_stream_id: Option<String>,
    title: String,
    id: String,
    updated: String,
    author: Author,
    summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<Content>,
    pub links: Vec<Link>,
}

fn updated(event: &ResolvedEvent) -> String {
    iso8601(event.link.as_ref().map_or(event.event.created, |link| link.created))
}

/// `event` as an entry at `embed`; `with_content` adds the Atom content
/// whatever the level (a single event read).
pub fn entry(base: &str, event: &ResolvedEvent, embed: Embed, with_content: bool) -> Entry {
    let target = &event.event;
    // The entry names the event it stands for: the link's target when the
    // link was resolved.
    let uri = format!("{}/{}", stream_uri(base, target.stream.as_str()), target.revision);
    let summary = if event.link.is_some() { eventfold_store::LINK_EVENT_TYPE } else { &target.event_type };
    let mut entry = Entry {
        event_id: None,
        event_type: None,
        event_number: None,
        data: None,
        meta_data: None,
        link_meta_data: None,
        stream_id: None,
        is_json: None,
        is_meta_data: None,
        is_link_meta_data: None,
        position_event_number: None,
        position_stream_id: None,
        title: format!("{}@{}", target.revision, target.stream),
        id: uri.clone(),
        updated: updated(event),
        author: AUTHOR,
        summary: summary.to_owned(),
        content: None,
        links: vec![Link::new("edit", uri.clone()), Link::new("alternate", uri)],
    };
    if (with_content || embed == Embed::Content) && target.content_type == ContentType::Json {
        entry.content = Some(content(target));
    }
    if embed > Embed::Content {
        let original = event.link.as_ref().unwrap_or(target);
        entry.event_id = Some(target.id.to_string());
        entry.event_type = Some(target.event_type.clone());
        entry.event_number = Some(target.revision);
        entry.stream_id = Some(target.stream.to_string());
        entry.is_json = Some(target.content_type == ContentType::Json);
        entry.position_event_number = Some(original.revision);
        entry.position_stream_id = Some(original.stream.to_string());
        entry.is_meta_data = Some(!target.metadata.is_empty());
        entry.is_link_meta_data = Some(event.link.as_ref().is_some_and(|link| !link.metadata.is_empty()));
    }
    if embed >= Embed::Body {
        let pretty = embed >= Embed::PrettyBody;
        if target.content_type == ContentType::Json {
            entry.data = Some(text_of(&target.data, pretty));
        } else if embed >= Embed::TryHarder
            && let Some(json) = as_json_text(&target.data)
        {
            entry.data = Some(if pretty { pretty_json(json) } else { json.to_owned() });
            entry.is_json = Some(true);
        }
        entry.meta_data = (!target.metadata.is_empty()).then(|| text_of(&target.metadata, pretty));
        entry.link_meta_data =
            event.link.as_ref().filter(|link| !link.metadata.is_empty()).map(|link| text_of(&link.metadata, pretty));
    }
    entry
}

/// The event's Atom content.
pub fn content(event: &RecordedEvent) -> Content {
    Content {
        event_stream_id: event.stream.to_string(),
        event_number: event.revision,
        event_type: event.event_type.clone(),
        event_id: event.id.to_string(),
        data: raw_json(&event.data),
        metadata: raw_json(&event.metadata),
    }
}

fn raw_json(bytes: &[u8]) -> Option<Box<RawValue>> {
    let text = std::str::from_utf8(bytes).ok()?;
    RawValue::from_string(text.trim().to_owned()).ok()
}

/// UTF-8 text of `bytes` (lossy: a feed never fails for an event),
/// indented when `pretty` and it is JSON.
fn text_of(bytes: &[u8], pretty: bool) -> String {
    let text = String::from_utf8_lossy(bytes);
    if pretty { pretty_json(&text) } else { text.into_owned() }
}

fn as_json_text(bytes: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(bytes).ok()?;
    serde_json::from_str::<serde::de::IgnoredAny>(text).ok().map(|_| text)
}

/// `text` indented when it is JSON, as it is otherwise.
fn pretty_json(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|value| serde_json::to_string_pretty(&value).ok())
        .unwrap_or_else(|| text.to_owned())
}
