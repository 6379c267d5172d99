//! Links between workflows across Nexus: a Temporal `Link` travels as a Nexus link, a URL
//! like `temporal:///namespaces/NS/workflows/ID/RUN/history?eventID=5&eventType=...`, in the
//! real server's format (its `common/nexus/link_converter.go`, which the SDKs parse too).

use temporalio_protos::temporal::api::common::v1::Link;
use temporalio_protos::temporal::api::common::v1::link::{
    Variant, WorkflowEvent,
    workflow_event::{EventReference, Reference, RequestIdReference},
};
use temporalio_protos::temporal::api::enums::v1::EventType;
use temporalio_protos::temporal::api::nexus::v1::Link as NexusLink;

const WORKFLOW_EVENT_TYPE: &str = "temporal.api.common.v1.Link.WorkflowEvent";
const EVENT_REFERENCE: &str = "EventReference";
const REQUEST_ID_REFERENCE: &str = "RequestIdReference";

/// A link to an event of a run.
pub fn workflow_event(
    namespace: &str,
    workflow_id: &str,
    run_id: &str,
    event_id: i64,
    event_type: EventType,
) -> Link {
    let reference = Reference::EventRef(EventReference {
        event_id,
        event_type: event_type as i32,
    });
    link_to_run(namespace, workflow_id, run_id, reference)
}

/// A link to the event of a run that a request (its id) caused.
pub fn request_id_reference(
    namespace: &str,
    workflow_id: &str,
    run_id: &str,
    request_id: &str,
    event_type: EventType,
) -> Link {
    let reference = Reference::RequestIdRef(RequestIdReference {
        request_id: request_id.to_owned(),
        event_type: event_type as i32,
    });
    link_to_run(namespace, workflow_id, run_id, reference)
}

/// A link to what `reference` names in a run.
fn link_to_run(namespace: &str, workflow_id: &str, run_id: &str, reference: Reference) -> Link {
    Link {
        variant: Some(Variant::WorkflowEvent(WorkflowEvent {
            namespace: namespace.to_owned(),
            workflow_id: workflow_id.to_owned(),
            run_id: run_id.to_owned(),
            reference: Some(reference),
        })),
    }
}

/// A workflow event link as a Nexus link; other links have no Nexus form here.
pub fn to_nexus(link: &Link) -> Option<NexusLink> {
    let Some(Variant::WorkflowEvent(event)) = &link.variant else {
        return None;
    };
    let query = match &event.reference {
        Some(Reference::EventRef(r)) => format!(
            "eventID={}&eventType={}&referenceType={EVENT_REFERENCE}",
            r.event_id,
            event_type_name(r.event_type)
        ),
        Some(Reference::RequestIdRef(r)) => format!(
            "eventType={}&referenceType={REQUEST_ID_REFERENCE}&requestID={}",
            event_type_name(r.event_type),
            escape(&r.request_id, false)
        ),
        None => String::new(),
    };
    let path = format!(
        "/namespaces/{}/workflows/{}/{}/history",
        escape(&event.namespace, true),
        escape(&event.workflow_id, true),
        escape(&event.run_id, true)
    );
    let url = if query.is_empty() {
        format!("temporal://{path}")
    } else {
        format!("temporal://{path}?{query}")
    };
    Some(NexusLink {
        url,
        r#type: WORKFLOW_EVENT_TYPE.into(),
    })
}

/// The Temporal link a Nexus link names; none for links of other types or malformed ones
/// (like the real server, which logs and drops them: links are not essential).
pub fn from_nexus(link: &NexusLink) -> Option<Link> {
    if link.r#type != WORKFLOW_EVENT_TYPE {
        return None;
    }
    let rest = link.url.strip_prefix("temporal://")?;
    let path = &rest[rest.find('/')?..];
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let segments: Vec<&str> = path.split('/').collect();
    let [
        "",
        "namespaces",
        namespace,
        "workflows",
        workflow_id,
        run_id,
        "history",
    ] = segments.as_slice()
    else {
        return None;
    };
    let param = |name: &str| {
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(key, _)| *key == name)
            .and_then(|(_, value)| unescape(value))
    };
    let event_type = param("eventType").map_or(0, |name| event_type_of(&name));
    let reference = match param("referenceType").as_deref() {
        Some(EVENT_REFERENCE) => Some(Reference::EventRef(EventReference {
            event_id: param("eventID")?.parse().ok()?,
            event_type,
        })),
        Some(REQUEST_ID_REFERENCE) => Some(Reference::RequestIdRef(RequestIdReference {
            request_id: param("requestID")?,
            event_type,
        })),
        _ => None,
    };
    Some(Link {
        variant: Some(Variant::WorkflowEvent(WorkflowEvent {
            namespace: unescape(namespace)?,
            workflow_id: unescape(workflow_id)?,
            run_id: unescape(run_id)?,
            reference,
        })),
    })
}

/// The name Go's API gives an event type ("WorkflowExecutionStarted").
fn event_type_name(event_type: i32) -> String {
    let name = EventType::try_from(event_type)
        .unwrap_or_default()
        .as_str_name()
        .trim_start_matches("EVENT_TYPE_");
    name.split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_string() + &chars.as_str().to_lowercase()
            })
        })
        .collect()
}

/// An event type from its name in either spelling ("WorkflowExecutionStarted" or
/// "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED").
fn event_type_of(name: &str) -> i32 {
    let screaming = if name.starts_with("EVENT_TYPE_") {
        name.to_owned()
    } else {
        let mut words = String::from("EVENT_TYPE");
        for c in name.chars() {
            if c.is_ascii_uppercase() {
                words.push('_');
            }
            words.push(c.to_ascii_uppercase());
        }
        words
    };
    EventType::from_str_name(&screaming).map_or(0, |t| t as i32)
}

/// Go's `url.PathEscape` (a path segment) or `url.QueryEscape`.
fn escape(text: &str, path_segment: bool) -> String {
    let mut escaped = String::new();
    for byte in text.bytes() {
        let keep = byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'_' | b'.' | b'~')
            || (path_segment && matches!(byte, b'$' | b'&' | b'+' | b':' | b'=' | b'@'));
        if keep {
            escaped.push(byte as char);
        } else if byte == b' ' && !path_segment {
            escaped.push('+');
        } else {
            escaped.push_str(&format!("%{byte:02X}"));
        }
    }
    escaped
}

fn unescape(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_links_read_like_the_real_servers_and_back() {
        let link = workflow_event(
            "default",
            "caller 1/x",
            "run-1",
            5,
            EventType::NexusOperationScheduled,
        );
        let nexus = to_nexus(&link).unwrap();
        assert_eq!(
            nexus.url,
            "temporal:///namespaces/default/workflows/caller%201%2Fx/run-1/history?eventID=5&eventType=NexusOperationScheduled&referenceType=EventReference"
        );
        assert_eq!(nexus.r#type, WORKFLOW_EVENT_TYPE);
        assert_eq!(from_nexus(&nexus), Some(link));
    }

    #[test]
    fn request_id_references_and_either_event_type_spelling_parse() {
        let nexus = NexusLink {
            url: "temporal:///namespaces/ns/workflows/wf/run/history?referenceType=RequestIdReference&requestID=req-1&eventType=EVENT_TYPE_WORKFLOW_EXECUTION_STARTED".into(),
            r#type: WORKFLOW_EVENT_TYPE.into(),
        };
        let Some(Variant::WorkflowEvent(event)) = from_nexus(&nexus).unwrap().variant else {
            panic!("a workflow event link");
        };
        assert_eq!(
            event.reference,
            Some(Reference::RequestIdRef(RequestIdReference {
                request_id: "req-1".into(),
                event_type: EventType::WorkflowExecutionStarted as i32,
            }))
        );
        let other = NexusLink {
            url: "https://example.com".into(),
            r#type: "something.Else".into(),
        };
        assert_eq!(from_nexus(&other), None);
    }
}
