//! A reader for server-sent events as Meshy's `…/stream` endpoints send them:
//! `event:` and `data:` lines, frames separated by a blank line.

/// One frame: its event name (`message` when unnamed) and its data lines joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub name: String,
    pub data: String,
}

/// Parses a complete event stream. Comments (`:`), `id:` and `retry:` lines and frames
/// without data are skipped.
pub fn parse(text: &str) -> Vec<Event> {
    let mut events = Vec::new();
    let mut name = String::new();
    let mut data: Vec<&str> = Vec::new();
    for line in text.lines().chain(std::iter::once("")) {
        if line.is_empty() {
            if !data.is_empty() {
                let name = if name.is_empty() {
                    "message".into()
                } else {
                    std::mem::take(&mut name)
                };
                events.push(Event {
                    name,
                    data: data.join("\n"),
                });
            }
            name.clear();
            data.clear();
        } else if let Some(value) = field(line, "event") {
            name = value.to_owned();
        } else if let Some(value) = field(line, "data") {
            data.push(value);
        }
    }
    events
}

fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let value = line.strip_prefix(name)?.strip_prefix(':')?;
    Some(value.strip_prefix(' ').unwrap_or(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_todays_frames_without_spaces_and_skips_keep_alive_comments() {
        let text = "event:message\ndata:{\"id\":\"t\",\"status\":\"PENDING\"}\n\n: keep-alive\n\n\
                    event:message\ndata:{\"id\":\"t\",\"status\":\"SUCCEEDED\"}\n\n";
        let events = parse(text);
        assert_eq!(
            events,
            [
                Event {
                    name: "message".into(),
                    data: "{\"id\":\"t\",\"status\":\"PENDING\"}".into()
                },
                Event {
                    name: "message".into(),
                    data: "{\"id\":\"t\",\"status\":\"SUCCEEDED\"}".into()
                },
            ]
        );
    }

    #[test]
    fn parses_message_frames_and_error_frame() {
        let text = "event: message\ndata: {\"id\":\"t\",\"progress\":10,\"status\":\"IN_PROGRESS\"}\n\n\
                    : keep-alive\n\n\
                    event: message\ndata: {\"id\":\"t\",\ndata: \"status\":\"SUCCEEDED\"}\n\n\
                    event: error\ndata: {\"status_code\":404,\"message\":\"Task not found\"}\n";
        let events = parse(text);
        assert_eq!(events.len(), 3);
        assert_eq!(events[0].name, "message");
        assert!(events[0].data.contains("IN_PROGRESS"));
        assert_eq!(events[2].name, "error");
        assert_eq!(
            events[2].data,
            r#"{"status_code":404,"message":"Task not found"}"#
        );
    }

    #[test]
    fn unnamed_frames_are_messages_and_crlf_is_accepted() {
        let events = parse("data: 1\r\n\r\ndata: 2\r\n");
        assert_eq!(
            events,
            vec![
                Event {
                    name: "message".into(),
                    data: "1".into()
                },
                Event {
                    name: "message".into(),
                    data: "2".into()
                },
            ]
        );
    }
}
