//! Nexus endpoints: the server-wide registry of names that Nexus callers address, each bound
//! to a target (a namespace's task queue, or an external URL). Rows in the store, cached so
//! that lookups by id or name never touch SQLite; the checks and their messages are the real
//! server's (its frontend and matching `nexus_endpoint_client.go`, observed on the dev server).
//!
//! Where the real dev server (1.32) is inconsistent, devserver keeps the endpoint whole:
//! - a rename to a name another endpoint has is refused (the real server then holds two
//!   endpoints of one name), and the old name is free again (the real server keeps it taken
//!   until it restarts);
//! - an update keeps `created_time` (the real server drops it).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use base64::Engine;
use devserver_persistence::{NexusEndpointRow, Store};
use prost::Message;
use temporalio_protos::temporal::api::nexus::v1::endpoint_target::Variant;
use temporalio_protos::temporal::api::nexus::v1::{Endpoint, EndpointSpec};
use uuid::Uuid;

use crate::engine::{Millis, timestamp};
use crate::error::{ServiceError, ServiceResult};
use crate::go_format::go_quote;
use crate::namespaces::Namespaces;
use checks::{
    MAX_DESCRIPTION_SIZE, invalid_if_any, name_issues, parse_id, task_queue_problem, url_issue,
};

mod checks;
pub(crate) mod go_url;

/// Endpoints per List page when the client does not say, and at most.
const DEFAULT_PAGE_SIZE: usize = 100;
const MAX_PAGE_SIZE: i32 = 1000;

/// What a List whose page token does not decode answers. The real server fails inside its
/// store and answers INTERNAL with the first half of this; a token the client got wrong is
/// the client's error, and INTERNAL would have clients retry it in vain.
const BAD_PAGE_TOKEN: &str = "error listing Nexus endpoints: invalid page token";

pub struct NexusEndpointRegistry {
    store: Store,
    /// Worker targets must name a namespace that exists.
    namespaces: Arc<Namespaces>,
    cache: RwLock<Cache>,
    /// Serializes changes, so that two creates cannot both take a name.
    changes: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Cache {
    /// In the order List pages through them: by the id's bytes, as the real server's store
    /// orders its binary ids.
    by_id: BTreeMap<Uuid, Endpoint>,
    by_name: HashMap<String, Uuid>,
}

impl Cache {
    fn insert(&mut self, id: Uuid, endpoint: Endpoint) {
        if let Some(old) = self.by_id.get(&id) {
            self.by_name.remove(name_of(old));
        }
        self.by_name.insert(name_of(&endpoint).to_owned(), id);
        self.by_id.insert(id, endpoint);
    }
}

fn name_of(endpoint: &Endpoint) -> &str {
    endpoint.spec.as_ref().map_or("", |spec| spec.name.as_str())
}

impl NexusEndpointRegistry {
    pub async fn load(store: Store, namespaces: Arc<Namespaces>) -> ServiceResult<Self> {
        let mut cache = Cache::default();
        for row in store.nexus_endpoints().await? {
            let corrupt = |error: String| {
                ServiceError::Internal(format!("corrupt Nexus endpoint {}: {error}", row.id))
            };
            let id = Uuid::try_parse(&row.id).map_err(|e| corrupt(e.to_string()))?;
            let endpoint =
                Endpoint::decode(row.endpoint.as_slice()).map_err(|e| corrupt(e.to_string()))?;
            cache.insert(id, endpoint);
        }
        Ok(NexusEndpointRegistry {
            store,
            namespaces,
            cache: RwLock::new(cache),
            changes: tokio::sync::Mutex::new(()),
        })
    }

    /// Registers an endpoint under a new id, at version 1.
    pub async fn create(&self, spec: Option<EndpointSpec>, now: Millis) -> ServiceResult<Endpoint> {
        let spec = spec.unwrap_or_default();
        self.check_spec(&spec)?;
        let taken = || {
            ServiceError::AlreadyExists(format!(
                "error creating Nexus endpoint. Endpoint with name {} already registered",
                spec.name
            ))
        };
        let _change = self.changes.lock().await;
        if self.named(&spec.name).is_some() {
            return Err(taken());
        }
        let id = Uuid::new_v4();
        let endpoint = Endpoint {
            version: 1,
            id: id.to_string(),
            url_prefix: url_prefix(&id.to_string()),
            created_time: Some(timestamp(now)),
            last_modified_time: None,
            spec: Some(spec.clone()),
        };
        if !self.store.insert_nexus_endpoint(&row(&endpoint)).await? {
            return Err(taken());
        }
        self.write().insert(id, endpoint.clone());
        Ok(endpoint)
    }

    /// The endpoint of an id in any spelling Go's UUID parser takes (upper case, braces,
    /// `urn:uuid:`, no dashes), answered under the id as asked, like the real server's,
    /// which reads it back from its store by the UUID's bytes.
    pub fn get(&self, id: &str) -> ServiceResult<Endpoint> {
        let uuid = parse_id(id).map_err(ServiceError::InvalidArgument)?;
        let read = self.read();
        let mut endpoint = read.by_id.get(&uuid).cloned().ok_or_else(|| {
            ServiceError::NotFound(format!("Nexus endpoint with ID `{id}` not found"))
        })?;
        endpoint.url_prefix = url_prefix(id);
        endpoint.id = id.to_owned();
        Ok(endpoint)
    }

    /// The endpoint of a name.
    pub fn named(&self, name: &str) -> Option<Endpoint> {
        let read = self.read();
        let id = read.by_name.get(name)?;
        read.by_id.get(id).cloned()
    }

    /// Replaces an endpoint's spec, if `version` is its current one; the version goes up by
    /// one. Unlike Get, the id must be spelled as the server gave it.
    pub async fn update(
        &self,
        id: &str,
        version: i64,
        spec: Option<EndpointSpec>,
        now: Millis,
    ) -> ServiceResult<Endpoint> {
        let spec = spec.unwrap_or_default();
        self.check_spec(&spec)?;
        let _change = self.changes.lock().await;
        let (uuid, previous) = self.exactly(id).ok_or_else(|| {
            ServiceError::NotFound(format!(
                "error updating Nexus endpoint. endpoint ID {id} not found"
            ))
        })?;
        if version != previous.version {
            return Err(ServiceError::FailedPrecondition(format!(
                "nexus endpoint version mismatch. received: {version} expected {}",
                previous.version
            )));
        }
        if self
            .named(&spec.name)
            .is_some_and(|other| other.id != previous.id)
        {
            return Err(ServiceError::AlreadyExists(format!(
                "error updating Nexus endpoint. Endpoint with name {} already registered",
                spec.name
            )));
        }
        let endpoint = Endpoint {
            version: previous.version + 1,
            last_modified_time: Some(timestamp(now)),
            spec: Some(spec),
            ..previous
        };
        if !self.store.update_nexus_endpoint(&row(&endpoint)).await? {
            return Err(ServiceError::Internal(format!(
                "Nexus endpoint {id} is cached but not stored"
            )));
        }
        self.write().insert(uuid, endpoint.clone());
        Ok(endpoint)
    }

    /// Deletes an endpoint. Like the real server, `version` must be positive but need not be
    /// the current one; the id must be spelled as the server gave it.
    pub async fn delete(&self, id: &str, version: i64) -> ServiceResult<()> {
        let mut issues = Vec::new();
        if let Err(issue) = parse_id(id) {
            issues.push(issue);
        }
        if version <= 0 {
            issues.push("endpoint version is non-positive".into());
        }
        invalid_if_any(issues)?;
        let _change = self.changes.lock().await;
        let not_found =
            || ServiceError::NotFound(format!("error deleting nexus endpoint with ID: {id}"));
        let (uuid, endpoint) = self.exactly(id).ok_or_else(not_found)?;
        if !self.store.delete_nexus_endpoint(id).await? {
            return Err(not_found());
        }
        let mut cache = self.write();
        cache.by_id.remove(&uuid);
        cache.by_name.remove(name_of(&endpoint));
        Ok(())
    }

    /// A page of endpoints in id order, and the token of the next page (empty after the
    /// last; a full page always has one). A name picks that endpoint alone, whatever the
    /// page size and token say, as on the real server.
    pub fn list(
        &self,
        page_size: i32,
        next_page_token: &[u8],
        name: &str,
    ) -> ServiceResult<(Vec<Endpoint>, Vec<u8>)> {
        if !name.is_empty() {
            return Ok((self.named(name).into_iter().collect(), Vec::new()));
        }
        let page_size = match page_size {
            0 => DEFAULT_PAGE_SIZE,
            size if size < 0 => {
                return Err(ServiceError::InvalidArgument(
                    "page_size is negative".into(),
                ));
            }
            size if size > MAX_PAGE_SIZE => {
                return Err(ServiceError::InvalidArgument(format!(
                    "page_size exceeds limit of {MAX_PAGE_SIZE}"
                )));
            }
            size => size as usize,
        };
        let start = page_start(next_page_token)
            .ok_or_else(|| ServiceError::InvalidArgument(BAD_PAGE_TOKEN.into()))?;
        let read = self.read();
        let page: Vec<(&Uuid, &Endpoint)> = match start {
            PageStart::First => read.by_id.iter().take(page_size).collect(),
            PageStart::After(last) => read
                .by_id
                .iter()
                .skip_while(|(id, _)| id.as_bytes().as_slice() <= last.as_slice())
                .take(page_size)
                .collect(),
            PageStart::Nowhere => Vec::new(),
        };
        let token = match page.last() {
            Some((last, _)) if page.len() == page_size => page_token(last),
            _ => Vec::new(),
        };
        Ok((page.into_iter().map(|(_, e)| e.clone()).collect(), token))
    }

    /// The endpoint of an id as the server spells it (lower case, with dashes).
    fn exactly(&self, id: &str) -> Option<(Uuid, Endpoint)> {
        let uuid = Uuid::try_parse(id).ok()?;
        if uuid.hyphenated().to_string() != id {
            return None;
        }
        Some((uuid, self.read().by_id.get(&uuid)?.clone()))
    }

    /// The real server's checks of a spec to create or update with, in its order: every
    /// issue is reported at once, but a worker target's namespace that does not exist is a
    /// failed precondition alone.
    fn check_spec(&self, spec: &EndpointSpec) -> ServiceResult<()> {
        let mut issues = name_issues(&spec.name);
        let Some(variant) = spec.target.as_ref().and_then(|t| t.variant.as_ref()) else {
            issues.push("empty target variant".into());
            return invalid_if_any(issues);
        };
        match variant {
            Variant::Worker(worker) => {
                if worker.namespace.is_empty() {
                    issues.push("target namespace not set".into());
                } else if let Err(error) = self.namespaces.get(&worker.namespace) {
                    return Err(ServiceError::FailedPrecondition(format!(
                        "could not verify namespace referenced by target exists: {error}"
                    )));
                }
                if let Some(problem) = task_queue_problem(&worker.task_queue) {
                    issues.push(format!("invalid target task queue: {}", go_quote(&problem)));
                }
            }
            Variant::External(external) => issues.extend(url_issue(&external.url)),
        }
        if let Some(description) = &spec.description
            && description.encoded_len() > MAX_DESCRIPTION_SIZE
        {
            issues.push(format!(
                "description size exceeds limit of {MAX_DESCRIPTION_SIZE}"
            ));
        }
        invalid_if_any(issues)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Cache> {
        self.cache.read().expect("nexus endpoint cache poisoned")
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Cache> {
        self.cache.write().expect("nexus endpoint cache poisoned")
    }
}

fn row(endpoint: &Endpoint) -> NexusEndpointRow {
    NexusEndpointRow {
        id: endpoint.id.clone(),
        name: name_of(endpoint).to_owned(),
        endpoint: endpoint.encode_to_vec(),
    }
}

/// Where the real server serves an endpoint's operations; the id escaped like Go's
/// `url.PathEscape`.
fn url_prefix(id: &str) -> String {
    let mut escaped = String::new();
    for byte in id.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => escaped.push(byte as char),
            b'-' | b'_' | b'.' | b'~' | b'$' | b'&' | b'+' | b':' | b'=' | b'@' => {
                escaped.push(byte as char)
            }
            _ => escaped.push_str(&format!("%{byte:02X}")),
        }
    }
    format!("/nexus/endpoints/{escaped}/services")
}

enum PageStart {
    First,
    After(Vec<u8>),
    /// A token without a last id: the real server's store matches nothing then.
    Nowhere,
}

/// The real server's page token, `{"LastID":"<base64 of the id's bytes>"}`, so that a token
/// either server gave is read the same way.
fn page_token(last: &Uuid) -> Vec<u8> {
    let last = base64::engine::general_purpose::STANDARD.encode(last.as_bytes());
    serde_json::json!({ "LastID": last })
        .to_string()
        .into_bytes()
}

/// Where a page token says to start; None if it is not one (Go's JSON decoding: field names
/// match case-insensitively, `null` sets nothing).
fn page_start(token: &[u8]) -> Option<PageStart> {
    if token.is_empty() {
        return Some(PageStart::First);
    }
    let fields = match serde_json::from_slice(token).ok()? {
        serde_json::Value::Null => return Some(PageStart::Nowhere),
        serde_json::Value::Object(fields) => fields,
        _ => return None,
    };
    let last = fields
        .get("LastID")
        .or_else(|| {
            fields
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case("LastID"))
                .map(|(_, value)| value)
        })
        .unwrap_or(&serde_json::Value::Null);
    match last {
        serde_json::Value::Null => Some(PageStart::Nowhere),
        serde_json::Value::String(encoded) => base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()
            .map(PageStart::After),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use devserver_persistence::Location;
    use temporalio_protos::temporal::api::common::v1::Payload;
    use temporalio_protos::temporal::api::nexus::v1::EndpointTarget;
    use temporalio_protos::temporal::api::nexus::v1::endpoint_target::{External, Worker};

    use super::checks::NAME_RULE;
    use super::*;

    async fn registry(location: &Location) -> NexusEndpointRegistry {
        let store = Store::open(location).await.unwrap();
        let namespaces = Arc::new(Namespaces::load(store.clone()).await.unwrap());
        namespaces.ensure("default").await.unwrap();
        NexusEndpointRegistry::load(store, namespaces)
            .await
            .unwrap()
    }

    fn worker(name: &str, namespace: &str, task_queue: &str) -> EndpointSpec {
        EndpointSpec {
            name: name.into(),
            description: None,
            target: Some(EndpointTarget {
                variant: Some(Variant::Worker(Worker {
                    namespace: namespace.into(),
                    task_queue: task_queue.into(),
                })),
            }),
        }
    }

    fn external(name: &str, url: &str) -> EndpointSpec {
        EndpointSpec {
            name: name.into(),
            description: None,
            target: Some(EndpointTarget {
                variant: Some(Variant::External(External { url: url.into() })),
            }),
        }
    }

    fn message<T: std::fmt::Debug>(result: ServiceResult<T>) -> String {
        result.unwrap_err().to_string()
    }

    #[tokio::test]
    async fn specs_are_checked_like_the_real_server() {
        let registry = registry(&Location::Memory).await;
        let check = |spec: EndpointSpec| registry.check_spec(&spec);
        let rule = NAME_RULE;
        for (spec, expected) in [
            (
                EndpointSpec::default(),
                "endpoint name not set, empty target variant".to_owned(),
            ),
            (worker("a", "default", "q"), rule.to_owned()),
            (worker("ab-", "default", "q"), rule.to_owned()),
            (worker("a_b", "default", "q"), rule.to_owned()),
            (worker("1a", "default", "q"), rule.to_owned()),
            (
                worker(&"a".repeat(201), "default", "q"),
                "endpoint name exceeds length limit of 200".to_owned(),
            ),
            (
                worker(&"_".repeat(201), "", ""),
                format!(
                    "endpoint name exceeds length limit of 200, {rule}, target namespace not set, \
                     invalid target task queue: \"taskQueue is not set\""
                ),
            ),
            (
                worker("ab", "default", &"q".repeat(1001)),
                "invalid target task queue: \"taskQueue length exceeds limit\"".to_owned(),
            ),
            (
                worker("ab", "default", "/_sys/q"),
                "invalid target task queue: \"task queue name cannot start with reserved prefix \
                 /_sys/\""
                    .to_owned(),
            ),
            // A missing namespace is a failed precondition, and the only error reported.
            (
                worker("_", "missing", ""),
                "could not verify namespace referenced by target exists: Namespace missing is \
                 not found."
                    .to_owned(),
            ),
            (external("ab", ""), "empty target URL".to_owned()),
            (
                external("ab", &format!("http://{}", "h".repeat(4090))),
                "target URL length exceeds limit of 4096".to_owned(),
            ),
        ] {
            assert_eq!(message(check(spec)), expected);
        }
        assert!(matches!(
            check(worker("_", "missing", "q")),
            Err(ServiceError::FailedPrecondition(_))
        ));
        check(worker("a-9", "default", "q")).unwrap();
        check(worker(&"a".repeat(200), "default", "q")).unwrap();
        check(external("ab", &format!("http://{}", "h".repeat(4089)))).unwrap();
        // The description's encoded size counts: 20000 bytes in all pass.
        let described = |data: usize| EndpointSpec {
            description: Some(Payload {
                data: vec![b'x'; data],
                ..Default::default()
            }),
            ..worker("ab", "default", "q")
        };
        check(described(19_996)).unwrap();
        assert_eq!(
            message(check(described(19_997))),
            "description size exceeds limit of 20000"
        );
    }

    #[test]
    fn external_urls_parse_like_go() {
        for (url, expected) in [
            ("http://localhost:7233/x", None),
            ("HTTPS://x/y?z#f", None),
            ("http:x", None),
            ("http://", None),
            ("http://a@b@c/", None),
            ("http://x:/", None),
            ("http://x%c3%a9/", None),
            ("http://x/?%zz", None),
            (
                "localhost:8080",
                Some(r#"invalid target URL scheme: "localhost", expected http or https"#),
            ),
            (
                "example.com/x",
                Some(r#"invalid target URL scheme: "", expected http or https"#),
            ),
            (
                "*",
                Some(r#"invalid target URL scheme: "", expected http or https"#),
            ),
            (
                "ht+tp://x",
                Some(r#"invalid target URL scheme: "ht+tp", expected http or https"#),
            ),
            (
                "://x",
                Some(r#"invalid target URL: parse "://x": missing protocol scheme"#),
            ),
            (
                "1http://x",
                Some(
                    r#"invalid target URL: parse "1http://x": first path segment in URL cannot contain colon"#,
                ),
            ),
            (
                "http://x/%zz",
                Some(r#"invalid target URL: parse "http://x/%zz": invalid URL escape "%zz""#),
            ),
            (
                "http://x/#%z",
                Some(r#"invalid target URL: parse "http://x/#%z": invalid URL escape "%z""#),
            ),
            (
                "http://x%41/",
                Some(r#"invalid target URL: parse "http://x%41/": invalid URL escape "%41""#),
            ),
            (
                "http://x:port/",
                Some(
                    r#"invalid target URL: parse "http://x:port/": invalid port ":port" after host"#,
                ),
            ),
            (
                "http://[::1",
                Some(r#"invalid target URL: parse "http://[::1": missing ']' in host"#),
            ),
            (
                "http://[::1]:x/",
                Some(
                    r#"invalid target URL: parse "http://[::1]:x/": invalid port ":x" after host"#,
                ),
            ),
            (
                "http://x y",
                Some(
                    r#"invalid target URL: parse "http://x y": invalid character " " in host name"#,
                ),
            ),
            (
                "http://a b@c/",
                Some(r#"invalid target URL: parse "http://a b@c/": net/url: invalid userinfo"#),
            ),
            (
                "http://\x7f",
                Some(
                    r#"invalid target URL: parse "http://\x7f": net/url: invalid control character in URL"#,
                ),
            ),
        ] {
            assert_eq!(url_issue(url).as_deref(), expected, "{url}");
        }
    }

    #[test]
    fn ids_parse_like_go() {
        let id = "d4cdd71f-9687-418f-836c-d2dc84ab2954";
        let uuid = Uuid::try_parse(id).unwrap();
        for spelling in [
            id.to_owned(),
            id.to_uppercase(),
            format!("{{{id}}}"),
            format!("URN:uuid:{id}"),
            id.replace('-', ""),
        ] {
            assert_eq!(parse_id(&spelling), Ok(uuid), "{spelling}");
        }
        assert_eq!(parse_id(""), Err("endpoint ID not set".into()));
        assert_eq!(
            parse_id("zz"),
            Err(r#"malformed endpoint ID: "invalid UUID length: 2""#.into())
        );
        assert_eq!(
            parse_id(&id.replace('-', "_")),
            Err(r#"malformed endpoint ID: "invalid UUID format""#.into())
        );
        assert_eq!(
            parse_id(&format!("urn:uuix:{id}")),
            Err(r#"malformed endpoint ID: "invalid urn prefix: \"urn:uuix:\"""#.into())
        );
        assert_eq!(
            url_prefix(&format!("{{{id}}}")),
            format!("/nexus/endpoints/%7B{id}%7D/services")
        );
    }

    #[tokio::test]
    async fn endpoints_are_versioned_renamed_and_durable() {
        let dir = tempfile::tempdir().unwrap();
        let location = Location::File(dir.path().join("dev.db"));
        let registry = registry(&location).await;
        let created = registry
            .create(Some(worker("ep", "default", "q")), 1_000)
            .await
            .unwrap();
        assert_eq!(created.version, 1);
        assert_eq!(
            created.url_prefix,
            format!("/nexus/endpoints/{}/services", created.id)
        );
        assert_eq!(created.created_time, Some(timestamp(1_000)));
        assert_eq!(created.last_modified_time, None);
        assert_eq!(
            message(
                registry
                    .create(Some(worker("ep", "default", "q2")), 2_000)
                    .await
            ),
            "error creating Nexus endpoint. Endpoint with name ep already registered"
        );
        let other = registry
            .create(Some(worker("other", "default", "q")), 2_000)
            .await
            .unwrap();

        assert_eq!(
            message(
                registry
                    .update(&created.id, 2, Some(worker("ep", "default", "q")), 3_000)
                    .await
            ),
            "nexus endpoint version mismatch. received: 2 expected 1"
        );
        assert_eq!(
            message(
                registry
                    .update(
                        &created.id.to_uppercase(),
                        1,
                        Some(worker("ep", "default", "q")),
                        3_000
                    )
                    .await
            ),
            format!(
                "error updating Nexus endpoint. endpoint ID {} not found",
                created.id.to_uppercase()
            )
        );
        assert_eq!(
            message(
                registry
                    .update(&created.id, 1, Some(worker("other", "default", "q")), 3_000)
                    .await
            ),
            "error updating Nexus endpoint. Endpoint with name other already registered"
        );
        let renamed = registry
            .update(
                &created.id,
                1,
                Some(worker("renamed", "default", "q2")),
                3_000,
            )
            .await
            .unwrap();
        assert_eq!(renamed.version, 2);
        assert_eq!(renamed.created_time, created.created_time);
        assert_eq!(renamed.last_modified_time, Some(timestamp(3_000)));
        assert!(registry.named("ep").is_none());
        assert_eq!(registry.named("renamed"), Some(renamed.clone()));
        // The old name is free again.
        let reused = registry
            .create(Some(worker("ep", "default", "q")), 4_000)
            .await
            .unwrap();

        // Deletes take any positive version.
        assert_eq!(
            message(registry.delete(&other.id, 0).await),
            "endpoint version is non-positive"
        );
        assert_eq!(
            message(registry.delete("", 0).await),
            "endpoint ID not set, endpoint version is non-positive"
        );
        registry.delete(&other.id, 7).await.unwrap();
        assert_eq!(
            message(registry.delete(&other.id, 1).await),
            format!("error deleting nexus endpoint with ID: {}", other.id)
        );
        assert_eq!(
            message(registry.get(&other.id)),
            format!("Nexus endpoint with ID `{}` not found", other.id)
        );
        drop(registry);

        let reopened = super::tests::registry(&location).await;
        assert_eq!(reopened.get(&renamed.id).unwrap(), renamed);
        assert_eq!(reopened.named("ep"), Some(reused.clone()));
        assert!(reopened.named("other").is_none());
        let (all, token) = reopened.list(0, &[], "").unwrap();
        let mut expected = vec![renamed, reused];
        expected.sort_by(|a, b| a.id.cmp(&b.id));
        assert_eq!(all, expected);
        assert!(token.is_empty());
    }

    #[tokio::test]
    async fn lists_page_in_id_order() {
        let registry = registry(&Location::Memory).await;
        let mut ids = Vec::new();
        for name in ["e0", "e1", "e2"] {
            let endpoint = registry
                .create(Some(worker(name, "default", "q")), 0)
                .await
                .unwrap();
            ids.push(endpoint.id);
        }
        ids.sort();
        let page_ids = |page: &[Endpoint]| page.iter().map(|e| e.id.clone()).collect::<Vec<_>>();
        let (first, token) = registry.list(2, &[], "").unwrap();
        assert_eq!(page_ids(&first), ids[..2]);
        let (second, last_token) = registry.list(2, &token, "").unwrap();
        assert_eq!(page_ids(&second), ids[2..]);
        assert!(last_token.is_empty());
        // A full page has a token, even when nothing follows.
        let (all, token) = registry.list(3, &[], "").unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(registry.list(3, &token, "").unwrap(), (vec![], vec![]));
        // The token is the real server's.
        let last = Uuid::try_parse(&ids[2]).unwrap();
        assert_eq!(
            String::from_utf8(token).unwrap(),
            format!(
                "{{\"LastID\":\"{}\"}}",
                base64::engine::general_purpose::STANDARD.encode(last.as_bytes())
            )
        );
        assert_eq!(registry.list(1, b"null", "").unwrap(), (vec![], vec![]));
        assert_eq!(registry.list(1, b"{}", "").unwrap(), (vec![], vec![]));
        for token in [&b"garbage"[..], b"{\"LastID\":\"zz\"}", b"[]"] {
            assert!(matches!(
                registry.list(1, token, ""),
                Err(ServiceError::InvalidArgument(m)) if m == BAD_PAGE_TOKEN
            ));
        }
        assert_eq!(message(registry.list(-1, &[], "")), "page_size is negative");
        assert_eq!(
            message(registry.list(1001, &[], "")),
            "page_size exceeds limit of 1000"
        );
        // A name filter ignores the paging fields.
        let (named, token) = registry.list(-1, b"garbage", "e1").unwrap();
        assert_eq!(named.len(), 1);
        assert_eq!(named[0].spec.as_ref().unwrap().name, "e1");
        assert!(token.is_empty());
        assert_eq!(registry.list(0, &[], "missing").unwrap(), (vec![], vec![]));
    }
}
