//! Search attributes: the system attributes every namespace has, the custom ones registered
//! per namespace (rows in the store, cached so a new one is usable by the very next call),
//! and the check of the attributes a workflow is started with, worded like the real server.

use std::collections::BTreeMap;
use std::sync::RwLock;

use devserver_persistence::{SearchAttributeRow, SearchAttributeValue, SqlValue, Store};
use temporalio_protos::temporal::api::common::v1::{Payload, SearchAttributes};
use temporalio_protos::temporal::api::enums::v1::IndexedValueType;

use crate::error::{ServiceError, ServiceResult};
use crate::go_format::go_float;
use crate::{rfc3339, visibility};

use IndexedValueType::{Bool, Datetime, Double, Int, Keyword, KeywordList, Text};

/// The real server's system search attributes, and whether a start request may set them
/// (observed on the real dev server: the others are maintained by the server itself).
const SYSTEM: [(&str, IndexedValueType, bool); 33] = [
    ("BatcherNamespace", Keyword, true),
    ("BatcherUser", Keyword, true),
    ("BinaryChecksums", KeywordList, true),
    ("BuildIds", KeywordList, true),
    ("CloseTime", Datetime, false),
    ("ExecutionDuration", Int, false),
    ("ExecutionStatus", Keyword, false),
    ("ExecutionTime", Datetime, false),
    ("HistoryLength", Int, false),
    ("HistorySizeBytes", Int, false),
    ("ParentRunId", Keyword, false),
    ("ParentWorkflowId", Keyword, false),
    ("RootRunId", Keyword, false),
    ("RootWorkflowId", Keyword, false),
    ("RunId", Keyword, false),
    ("StartTime", Datetime, false),
    ("StateTransitionCount", Int, false),
    ("TaskQueue", Keyword, false),
    ("TemporalChangeVersion", KeywordList, true),
    ("TemporalExternalPayloadCount", Int, false),
    ("TemporalExternalPayloadSizeBytes", Int, false),
    ("TemporalNamespaceDivision", Keyword, true),
    ("TemporalPauseInfo", KeywordList, true),
    ("TemporalReportedProblems", KeywordList, true),
    ("TemporalSchedulePaused", Bool, true),
    ("TemporalScheduledById", Keyword, true),
    ("TemporalScheduledStartTime", Datetime, true),
    ("TemporalUsedWorkerDeploymentVersions", KeywordList, false),
    ("TemporalWorkerDeployment", Keyword, false),
    ("TemporalWorkerDeploymentVersion", Keyword, false),
    ("TemporalWorkflowVersioningBehavior", Keyword, false),
    ("WorkflowId", Keyword, false),
    ("WorkflowType", Keyword, false),
];

/// Type names as the real server spells them in messages and the CLI takes them.
const TYPE_NAMES: [(IndexedValueType, &str); 7] = [
    (Text, "Text"),
    (Keyword, "Keyword"),
    (Int, "Int"),
    (Double, "Double"),
    (Bool, "Bool"),
    (Datetime, "Datetime"),
    (KeywordList, "KeywordList"),
];

/// The payload metadata key that names a search attribute value's type.
const TYPE_METADATA: &str = "type";

/// Custom attributes a namespace may have of one type: the real dev server's SQLite
/// visibility store has that many columns per type.
fn limit(value_type: IndexedValueType) -> usize {
    match value_type {
        Keyword => 10,
        IndexedValueType::Unspecified => 0,
        _ => 3,
    }
}

pub fn type_name(value_type: IndexedValueType) -> &'static str {
    TYPE_NAMES
        .iter()
        .find(|(known, _)| *known == value_type)
        .map_or("Unspecified", |(_, name)| name)
}

/// A type by its name, case-insensitively (`--search-attribute Name=keyword`).
pub fn type_named(name: &str) -> Option<IndexedValueType> {
    TYPE_NAMES
        .iter()
        .find(|(_, known)| known.eq_ignore_ascii_case(name))
        .map(|(value_type, _)| *value_type)
}

pub fn type_names() -> impl Iterator<Item = &'static str> {
    TYPE_NAMES.iter().map(|(_, name)| *name)
}

/// The system attributes and their types.
pub fn system() -> impl Iterator<Item = (&'static str, IndexedValueType)> {
    SYSTEM
        .iter()
        .map(|(name, value_type, _)| (*name, *value_type))
}

fn system_entry(name: &str) -> Option<&'static (&'static str, IndexedValueType, bool)> {
    SYSTEM.iter().find(|(system, _, _)| *system == name)
}

pub struct SearchAttributeRegistry {
    store: Store,
    /// Namespace → custom attribute → type.
    custom: RwLock<BTreeMap<String, BTreeMap<String, IndexedValueType>>>,
    /// Serializes changes, so that two adds cannot both pass the per-type limit.
    changes: tokio::sync::Mutex<()>,
}

impl SearchAttributeRegistry {
    pub async fn load(store: Store) -> ServiceResult<SearchAttributeRegistry> {
        let mut custom: BTreeMap<String, BTreeMap<String, IndexedValueType>> = BTreeMap::new();
        for row in store.search_attributes().await? {
            // A code this build does not know came from a newer one: leave it out.
            if let Ok(value_type) = IndexedValueType::try_from(row.value_type) {
                custom
                    .entry(row.namespace)
                    .or_default()
                    .insert(row.name, value_type);
            }
        }
        Ok(SearchAttributeRegistry {
            store,
            custom: RwLock::new(custom),
            changes: tokio::sync::Mutex::new(()),
        })
    }

    /// The type of a system attribute, or of a custom one of the namespace.
    pub fn type_of(&self, namespace: &str, name: &str) -> Option<IndexedValueType> {
        match system_entry(name) {
            Some((_, value_type, _)) => Some(*value_type),
            None => self.custom(namespace).get(name).copied(),
        }
    }

    /// A run's search attributes as visibility stores them: one typed value per scalar, per
    /// list element. Values of unregistered attributes (one removed since) are left out.
    pub fn stored_values(
        &self,
        namespace: &str,
        attributes: Option<&SearchAttributes>,
    ) -> Vec<SearchAttributeValue> {
        let Some(attributes) = attributes else {
            return Vec::new();
        };
        let custom = self.custom(namespace);
        let mut stored = Vec::new();
        for (name, payload) in &attributes.indexed_fields {
            let value_type = match system_entry(name) {
                Some((_, value_type, _)) => *value_type,
                None => match custom.get(name) {
                    Some(value_type) => *value_type,
                    None => continue,
                },
            };
            let Ok(value) = serde_json::from_slice::<serde_json::Value>(&payload.data) else {
                continue;
            };
            let values = match value {
                serde_json::Value::Array(items) => items,
                scalar => vec![scalar],
            };
            let stored_as = |value| SearchAttributeValue {
                name: name.clone(),
                value,
            };
            for value in &values {
                match (value_type, value.as_str()) {
                    // Text is matched word by word, so it is stored as its words.
                    (Text, Some(text)) => stored.extend(
                        visibility::text_words(text)
                            .into_iter()
                            .map(|word| stored_as(SqlValue::Text(word))),
                    ),
                    _ => stored.extend(stored_value(value, value_type).map(stored_as)),
                }
            }
        }
        stored
    }

    /// The custom attributes of a namespace.
    pub fn custom(&self, namespace: &str) -> BTreeMap<String, IndexedValueType> {
        self.custom
            .read()
            .expect("search attribute cache poisoned")
            .get(namespace)
            .cloned()
            .unwrap_or_default()
    }

    /// Registers custom attributes (name → `IndexedValueType` code) in a namespace, all or
    /// none. Like the real server, a name the namespace has already keeps its type, even if
    /// asked for another one, and an empty name is ignored.
    pub async fn add(
        &self,
        namespace: &str,
        attributes: &BTreeMap<String, i32>,
    ) -> ServiceResult<()> {
        if let Some(name) = attributes.keys().find(|name| system_entry(name).is_some()) {
            return Err(ServiceError::InvalidArgument(format!(
                "Search attribute {name} is reserved by system."
            )));
        }
        let mut typed = Vec::with_capacity(attributes.len());
        for (name, code) in attributes {
            let value_type = IndexedValueType::try_from(*code).map_err(|_| {
                ServiceError::InvalidArgument(format!("Unknown search attribute type: {code}."))
            })?;
            typed.push((name, value_type));
        }
        let _change = self.changes.lock().await;
        let mut existing = self.custom(namespace);
        let mut rows = Vec::new();
        for (name, value_type) in typed {
            if name.is_empty() || existing.contains_key(name) {
                continue;
            }
            let most = limit(value_type);
            if existing.values().filter(|t| **t == value_type).count() >= most {
                return Err(ServiceError::InvalidArgument(format!(
                    "Unable to create search attributes: cannot have more than {most} search \
                     attribute of type {}.",
                    type_name(value_type)
                )));
            }
            existing.insert(name.clone(), value_type);
            rows.push(SearchAttributeRow {
                namespace: namespace.to_owned(),
                name: name.clone(),
                value_type: value_type as i32,
            });
        }
        self.store.add_search_attributes(&rows).await?;
        self.custom
            .write()
            .expect("search attribute cache poisoned")
            .insert(namespace.to_owned(), existing);
        Ok(())
    }

    /// Removes custom attributes; names the namespace does not have are ignored, system
    /// attributes refused.
    pub async fn remove(&self, namespace: &str, names: &[String]) -> ServiceResult<()> {
        if let Some(name) = names.iter().find(|name| system_entry(name).is_some()) {
            return Err(ServiceError::InvalidArgument(format!(
                "Unable to remove non-custom search attributes: {name}."
            )));
        }
        let _change = self.changes.lock().await;
        self.store
            .remove_search_attributes(namespace, names)
            .await?;
        if let Some(custom) = self
            .custom
            .write()
            .expect("search attribute cache poisoned")
            .get_mut(namespace)
        {
            for name in names {
                custom.remove(name);
            }
        }
        Ok(())
    }

    /// Writes each value's type into its payload's metadata (`type`), as the real server
    /// shows every value it hands out: clients such as the `temporal` CLI send values
    /// without it, and the SDKs read a value only with it. A value that names its type
    /// already keeps it; one of an attribute the namespace does not have is left alone.
    pub fn set_types(&self, namespace: &str, attributes: Option<&mut SearchAttributes>) {
        let Some(attributes) = attributes else {
            return;
        };
        for (name, payload) in &mut attributes.indexed_fields {
            if payload.metadata.contains_key(TYPE_METADATA) {
                continue;
            }
            if let Some(value_type) = self.type_of(namespace, name) {
                payload.metadata.insert(
                    TYPE_METADATA.to_owned(),
                    type_name(value_type).as_bytes().to_vec(),
                );
            }
        }
    }

    /// Checks the search attributes a workflow is started with: each is registered, may be
    /// set by a client, and holds a value of its type.
    pub fn validate(
        &self,
        namespace: &str,
        attributes: Option<&SearchAttributes>,
    ) -> ServiceResult<()> {
        let Some(attributes) = attributes else {
            return Ok(());
        };
        let fields: BTreeMap<_, _> = attributes.indexed_fields.iter().collect();
        let custom = self.custom(namespace);
        for (name, payload) in fields {
            let value_type = match system_entry(name) {
                Some((_, _, false)) => {
                    return Err(ServiceError::InvalidArgument(format!(
                        "{name} attribute can't be set in SearchAttributes"
                    )));
                }
                Some((_, value_type, true)) => *value_type,
                None => *custom.get(name).ok_or_else(|| {
                    ServiceError::InvalidArgument(format!(
                        "Namespace {namespace} has no mapping defined for search attribute {name}"
                    ))
                })?,
            };
            check_value(payload, value_type).map_err(|shown| {
                ServiceError::InvalidArgument(format!(
                    "invalid value for search attribute {name} of type {}: {shown}",
                    type_name(value_type)
                ))
            })?;
        }
        Ok(())
    }
}

/// Whether a payload holds a value of the type; if not, the value as the real server shows
/// it in its message (Go's `%v` of the decoded value, or the payload if it does not decode).
fn check_value(payload: &Payload, value_type: IndexedValueType) -> Result<(), String> {
    let encoding = payload.metadata.get("encoding").map(Vec::as_slice);
    let value: serde_json::Value = match encoding {
        Some(b"binary/null") => return Ok(()),
        Some(b"json/plain") => serde_json::from_slice(&payload.data)
            .map_err(|_| format!("value from <{}>", payload_text(payload)))?,
        Some(b"binary/plain") => return Err(go_bytes(&payload.data)),
        _ => return Err(format!("value from <{}>", payload_text(payload))),
    };
    let fits = match (&value, value_type) {
        (serde_json::Value::Null, _) => true,
        (serde_json::Value::Array(items), KeywordList) => {
            items.iter().all(|item| item.is_string() || item.is_null())
        }
        // A scalar type takes a list of at most one value too.
        (serde_json::Value::Array(items), _) => match items.as_slice() {
            [] => true,
            [item] => item.is_null() || is_scalar_of(item, value_type),
            _ => false,
        },
        (scalar, _) => is_scalar_of(scalar, value_type),
    };
    if fits { Ok(()) } else { Err(go_value(&value)) }
}

/// A value of an attribute's type as visibility compares it (null and mistyped: none).
fn stored_value(value: &serde_json::Value, value_type: IndexedValueType) -> Option<SqlValue> {
    Some(match value_type {
        Keyword | KeywordList => SqlValue::Text(value.as_str()?.to_owned()),
        Text => return None,
        Int => SqlValue::Int(value.as_i64()?),
        Double => SqlValue::Real(value.as_f64()?),
        Bool => SqlValue::Int(i64::from(value.as_bool()?)),
        Datetime => SqlValue::Int(rfc3339::parse_millis(value.as_str()?)?),
        IndexedValueType::Unspecified => return None,
    })
}

fn is_scalar_of(value: &serde_json::Value, value_type: IndexedValueType) -> bool {
    match value_type {
        Text | Keyword => value.is_string(),
        Int => value.is_i64(),
        Double => value.is_number(),
        Bool => value.is_boolean(),
        Datetime => value.as_str().and_then(rfc3339::parse_millis).is_some(),
        KeywordList | IndexedValueType::Unspecified => false,
    }
}

/// A JSON value the way Go's `%v` prints it once decoded: numbers are float64, lists
/// `[a b]`, objects `map[k:v]` with sorted keys.
fn go_value(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_float(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(go_value).collect();
            format!("[{}]", items.join(" "))
        }
        Value::Object(fields) => {
            let mut fields: Vec<(&String, &Value)> = fields.iter().collect();
            fields.sort_by_key(|(key, _)| *key);
            let fields: Vec<String> = fields
                .into_iter()
                .map(|(key, value)| format!("{key}:{}", go_value(value)))
                .collect();
            format!("map[{}]", fields.join(" "))
        }
    }
}

/// Go's `%v` of a byte slice.
fn go_bytes(data: &[u8]) -> String {
    let bytes: Vec<String> = data.iter().map(u8::to_string).collect();
    format!("[{}]", bytes.join(" "))
}

/// A payload in protobuf text format, as Go prints it (it separates fields with two spaces).
fn payload_text(payload: &Payload) -> String {
    let mut metadata: Vec<_> = payload.metadata.iter().collect();
    metadata.sort();
    let mut fields: Vec<String> = metadata
        .into_iter()
        .map(|(key, value)| {
            format!(
                "metadata:{{key:\"{}\"  value:\"{}\"}}",
                text_escape(key.as_bytes()),
                text_escape(value)
            )
        })
        .collect();
    if !payload.data.is_empty() {
        fields.push(format!("data:\"{}\"", text_escape(&payload.data)));
    }
    fields.join("  ")
}

fn text_escape(bytes: &[u8]) -> String {
    let mut text = String::new();
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => text.push_str("\\\""),
                '\\' => text.push_str("\\\\"),
                '\n' => text.push_str("\\n"),
                '\r' => text.push_str("\\r"),
                '\t' => text.push_str("\\t"),
                c if c.is_control() => {
                    let mut buffer = [0; 4];
                    for b in c.encode_utf8(&mut buffer).bytes() {
                        text.push_str(&format!("\\x{b:02x}"));
                    }
                }
                c => text.push(c),
            }
        }
        for b in chunk.invalid() {
            text.push_str(&format!("\\x{b:02x}"));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use devserver_persistence::Location;

    fn json(text: &str) -> Payload {
        Payload {
            metadata: [("encoding".to_owned(), b"json/plain".to_vec())].into(),
            data: text.as_bytes().to_vec(),
            ..Default::default()
        }
    }

    fn attributes(fields: &[(&str, Payload)]) -> SearchAttributes {
        SearchAttributes {
            indexed_fields: fields
                .iter()
                .map(|(name, payload)| (name.to_string(), payload.clone()))
                .collect(),
        }
    }

    fn message(result: ServiceResult<()>) -> String {
        match result {
            Err(ServiceError::InvalidArgument(message)) => message,
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    async fn load(store: &Store) -> SearchAttributeRegistry {
        SearchAttributeRegistry::load(store.clone()).await.unwrap()
    }

    #[test]
    fn system_attributes_are_the_real_servers_33() {
        assert_eq!(system().count(), 33);
        assert_eq!(system().filter(|(_, t)| *t == KeywordList).count(), 6);
        assert_eq!(type_named("keywordlist"), Some(KeywordList));
        assert_eq!(type_named("Float"), None);
        assert_eq!(type_name(Datetime), "Datetime");
    }

    #[tokio::test]
    async fn added_attributes_are_visible_at_once_and_survive_a_reload() {
        let store = Store::open(&Location::Memory).await.unwrap();
        let registry = load(&store).await;
        let added = BTreeMap::from([("Customer".to_owned(), Keyword as i32)]);
        registry.add("default", &added).await.unwrap();
        assert_eq!(
            registry.custom("default"),
            BTreeMap::from([("Customer".to_owned(), Keyword)])
        );
        assert!(registry.custom("extra").is_empty());
        // Again, and with another type: accepted, the first type stays.
        registry.add("default", &added).await.unwrap();
        let retyped = BTreeMap::from([("Customer".to_owned(), Int as i32), (String::new(), 2)]);
        registry.add("default", &retyped).await.unwrap();
        assert_eq!(registry.custom("default")["Customer"], Keyword);
        assert_eq!(
            load(&store).await.custom("default"),
            registry.custom("default")
        );

        registry
            .remove("default", &["Customer".into(), "Unknown".into()])
            .await
            .unwrap();
        assert!(registry.custom("default").is_empty());
        assert!(load(&store).await.custom("default").is_empty());
    }

    #[tokio::test]
    async fn add_and_remove_refuse_what_the_real_server_refuses() {
        let store = Store::open(&Location::Memory).await.unwrap();
        let registry = load(&store).await;
        let add = |pairs: &[(&str, i32)]| {
            pairs
                .iter()
                .map(|(name, code)| (name.to_string(), *code))
                .collect::<BTreeMap<_, _>>()
        };
        assert_eq!(
            message(
                registry
                    .add("default", &add(&[("A", 2), ("WorkflowType", 2)]))
                    .await
            ),
            "Search attribute WorkflowType is reserved by system."
        );
        assert_eq!(
            message(registry.add("default", &add(&[("A", 0)])).await),
            "Unable to create search attributes: cannot have more than 0 search attribute of type Unspecified."
        );
        assert_eq!(
            message(registry.add("default", &add(&[("A", 99)])).await),
            "Unknown search attribute type: 99."
        );
        // All or none: the limit is 3 Int attributes.
        registry
            .add("default", &add(&[("I1", 3), ("I2", 3)]))
            .await
            .unwrap();
        assert_eq!(
            message(registry.add("default", &add(&[("I3", 3), ("I4", 3)])).await),
            "Unable to create search attributes: cannot have more than 3 search attribute of type Int."
        );
        assert_eq!(registry.custom("default").len(), 2);
        assert_eq!(store.search_attributes().await.unwrap().len(), 2);
        assert_eq!(
            message(
                registry
                    .remove("default", &["I1".into(), "RunId".into()])
                    .await
            ),
            "Unable to remove non-custom search attributes: RunId."
        );
        assert_eq!(registry.custom("default").len(), 2);
    }

    #[tokio::test]
    async fn start_attributes_must_be_registered_settable_and_of_their_type() {
        let store = Store::open(&Location::Memory).await.unwrap();
        let registry = load(&store).await;
        let types = BTreeMap::from([
            ("Count".to_owned(), Int as i32),
            ("Due".to_owned(), Datetime as i32),
            ("Tags".to_owned(), KeywordList as i32),
        ]);
        registry.add("default", &types).await.unwrap();
        let check =
            |fields: &[(&str, Payload)]| registry.validate("default", Some(&attributes(fields)));
        check(&[
            ("Count", json("5")),
            ("Due", json("\"2024-02-29T10:00:00.123+01:00\"")),
            ("Tags", json("[\"a\", null]")),
            ("TemporalChangeVersion", json("[\"v1\"]")),
            ("BuildIds", json("null")),
        ])
        .unwrap();
        assert_eq!(
            message(check(&[("NotRegistered", json("\"x\""))])),
            "Namespace default has no mapping defined for search attribute NotRegistered"
        );
        assert_eq!(
            message(check(&[("WorkflowType", json("\"x\""))])),
            "WorkflowType attribute can't be set in SearchAttributes"
        );
        for (name, payload, shown) in [
            ("Count", json("\"abc\""), "abc"),
            ("Count", json("5.0"), "5"),
            ("Count", json("1000000.5"), "1.0000005e+06"),
            ("Count", json("[1, 2]"), "[1 2]"),
            ("Tags", json("\"a\""), "a"),
            (
                "Tags",
                json("{\"b\": 1, \"a\": [null]}"),
                "map[a:[<nil>] b:1]",
            ),
            (
                "Due",
                json("\"2024-02-30T00:00:00Z\""),
                "2024-02-30T00:00:00Z",
            ),
            (
                "Due",
                json("\"2024-01-01T00:00:00z\""),
                "2024-01-01T00:00:00z",
            ),
            (
                "Due",
                json("{bad\n"),
                "value from <metadata:{key:\"encoding\"  value:\"json/plain\"}  data:\"{bad\\n\">",
            ),
            ("Count", Payload::default(), "value from <>"),
        ] {
            let value_type = type_name(registry.custom("default")[name]);
            assert_eq!(
                message(check(&[(name, payload)])),
                format!("invalid value for search attribute {name} of type {value_type}: {shown}")
            );
        }
        assert!(registry.validate("default", None).is_ok());
    }

    #[tokio::test]
    async fn values_get_the_type_of_their_attribute_unless_they_name_one() {
        let store = Store::open(&Location::Memory).await.unwrap();
        let registry = load(&store).await;
        let types = BTreeMap::from([("Tags".to_owned(), KeywordList as i32)]);
        registry.add("default", &types).await.unwrap();
        let mut typed = json("\"x\"");
        typed.metadata.insert("type".into(), b"Text".to_vec());
        let mut values = attributes(&[
            ("Tags", json("[\"a\"]")),
            ("TemporalChangeVersion", json("[\"v1\"]")),
            ("Typed", typed),
            ("Unknown", json("1")),
        ]);
        registry.set_types("default", Some(&mut values));
        let type_of = |name: &str| {
            values.indexed_fields[name]
                .metadata
                .get("type")
                .map(|t| String::from_utf8(t.clone()).unwrap())
        };
        assert_eq!(type_of("Tags").as_deref(), Some("KeywordList"));
        assert_eq!(
            type_of("TemporalChangeVersion").as_deref(),
            Some("KeywordList")
        );
        assert_eq!(type_of("Typed").as_deref(), Some("Text"));
        assert_eq!(type_of("Unknown"), None);
        // Another namespace has no Tags.
        let mut elsewhere = attributes(&[("Tags", json("[\"a\"]"))]);
        registry.set_types("other", Some(&mut elsewhere));
        assert!(
            !elsewhere.indexed_fields["Tags"]
                .metadata
                .contains_key("type")
        );
        registry.set_types("default", None);
    }
}
