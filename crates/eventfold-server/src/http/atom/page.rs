//! A page of a stream: which events, and the links around them, as
//! KurrentDB's feeds have them. `first` is the newest page (`head`),
//! `last` the oldest (`0/forward`), `next` goes back in time and
//! `previous` forward: the link a client polls to follow the stream.

use eventfold_store::Direction;

use super::feed::Link;
use super::links::stream_uri;

/// Where a page starts: the stream's newest event, or an event number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageStart {
    Head,
    At(u64),
}

impl PageStart {
    pub fn parse(text: &str) -> Option<Self> {
        if text.eq_ignore_ascii_case("head") { Some(PageStart::Head) } else { text.parse().ok().map(PageStart::At) }
    }
}

/// The page a client asked for, and what the read found.
pub struct StreamPage<'a> {
    pub base: &'a str,
    pub stream: &'a str,
    pub start: PageStart,
    pub direction: Direction,
    pub count: u64,
    /// The stream's last event number.
    pub last: u64,
    pub events_read: usize,
}

impl StreamPage<'_> {
    /// The event number the page starts at.
    fn from(&self) -> u64 {
        match self.start {
            PageStart::Head => self.last,
            PageStart::At(number) => number,
        }
    }

    /// No page lies beyond this one in the page's direction.
    pub fn reaches_end(&self) -> bool {
        match self.direction {
            Direction::Backwards => self.from() < self.count,
            Direction::Forwards => self.from().saturating_add(self.count) > self.last,
        }
    }

    /// The page is the stream's newest: what a client follows live.
    pub fn is_head(&self) -> bool {
        match self.direction {
            Direction::Backwards => self.start == PageStart::Head || self.from() >= self.last,
            Direction::Forwards => self.reaches_end(),
        }
    }

    /// A page that cannot change while the stream lives: older than the
    /// head, or forward and full.
    pub fn is_final(&self) -> bool {
        match self.direction {
            Direction::Backwards => !self.is_head(),
            Direction::Forwards => self.events_read as u64 == self.count,
        }
    }

    pub fn links(&self) -> Vec<Link> {
        let stream = stream_uri(self.base, self.stream);
        let count = self.count;
        let from = self.from();
        let page = |number: u64, direction: &str| format!("{stream}/{number}/{direction}/{count}");
        let mut links =
            vec![Link::new("self", stream.clone()), Link::new("first", format!("{stream}/head/backward/{count}"))];
        match self.direction {
            Direction::Backwards => {
                if !self.reaches_end() {
                    links.push(Link::new("last", page(0, "forward")));
                    links.push(Link::new("next", page(from - count, "backward")));
                }
                links.push(Link::new("previous", page(from.min(self.last).saturating_add(1), "forward")));
            }
            Direction::Forwards => {
                if from >= 1 {
                    links.push(Link::new("last", page(0, "forward")));
                    links.push(Link::new("next", page(from - 1, "backward")));
                }
                if !self.reaches_end() || self.events_read > 0 {
                    let newest = from.saturating_add(count - 1).min(self.last);
                    links.push(Link::new("previous", page(newest.saturating_add(1), "forward")));
                }
            }
        }
        if !self.stream.starts_with(eventfold_store::METADATA_STREAM_PREFIX) {
            links.push(Link::new("metadata", format!("{stream}/metadata")));
        }
        links
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relations(page: &StreamPage<'_>) -> Vec<(&'static str, String)> {
        page.links().into_iter().map(|link| (link.relation, link.uri.replace("http://h/streams/s", ""))).collect()
    }

    #[test]
    fn pages_link_as_kurrentdb_feeds_do() {
        // Events 0..=9, read backwards from the head, five at a time.
        let mut page = StreamPage {
            base: "http://h",
            stream: "s",
            start: PageStart::Head,
            direction: Direction::Backwards,
            count: 5,
            last: 9,
            events_read: 5,
        };
        assert!(page.is_head() && !page.is_final() && !page.reaches_end());
        assert_eq!(
            relations(&page),
            vec![
                ("self", String::new()),
                ("first", "/head/backward/5".into()),
                ("last", "/0/forward/5".into()),
                ("next", "/4/backward/5".into()),
                ("previous", "/10/forward/5".into()),
                ("metadata", "/metadata".into()),
            ]
        );
        page.start = PageStart::At(4);
        assert!(page.reaches_end() && page.is_final());
        // Forward from 5: the newest five; its previous link is where the
        // next event will be.
        page.start = PageStart::At(5);
        page.direction = Direction::Forwards;
        assert!(page.reaches_end() && page.is_head() && page.is_final());
        assert!(relations(&page).contains(&("previous", "/10/forward/5".into())));
        assert!(relations(&page).contains(&("next", "/4/backward/5".into())));
        // Past the end, nothing read: no previous link to follow.
        page.start = PageStart::At(10);
        page.events_read = 0;
        assert!(!relations(&page).iter().any(|(relation, _)| *relation == "previous"));
        assert!(!page.is_final());
    }
}
