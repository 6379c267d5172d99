//! A run's memo and search attributes, and the commands that change them.

use std::collections::HashMap;

use temporalio_protos::temporal::api::command::v1::{
    ModifyWorkflowPropertiesCommandAttributes, UpsertWorkflowSearchAttributesCommandAttributes,
};
use temporalio_protos::temporal::api::common::v1::{Memo, Payload, SearchAttributes};
use temporalio_protos::temporal::api::enums::v1::EventType;
use temporalio_protos::temporal::api::history::v1::history_event::Attributes;
use temporalio_protos::temporal::api::history::v1::{
    UpsertWorkflowSearchAttributesEventAttributes, WorkflowPropertiesModifiedEventAttributes,
};

use super::{Effects, Millis, MutableState, Proto};

impl MutableState {
    pub(super) fn upsert_search_attributes(
        &mut self,
        fx: &mut Effects,
        now: Millis,
        attrs: &UpsertWorkflowSearchAttributesCommandAttributes,
        completed_event_id: i64,
    ) {
        let upserted = attrs.search_attributes.clone().unwrap_or_default();
        let mut current = self.search_attributes.take().unwrap_or_default().0;
        merge(&mut current.indexed_fields, &upserted.indexed_fields);
        self.search_attributes =
            (!current.indexed_fields.is_empty()).then_some(Proto(SearchAttributes {
                indexed_fields: current.indexed_fields,
            }));
        fx.search_attributes_changed = true;
        self.append(
            fx,
            now,
            EventType::UpsertWorkflowSearchAttributes,
            Attributes::UpsertWorkflowSearchAttributesEventAttributes(
                UpsertWorkflowSearchAttributesEventAttributes {
                    workflow_task_completed_event_id: completed_event_id,
                    search_attributes: Some(upserted),
                },
            ),
        );
    }

    pub(super) fn modify_properties(
        &mut self,
        fx: &mut Effects,
        now: Millis,
        attrs: &ModifyWorkflowPropertiesCommandAttributes,
        completed_event_id: i64,
    ) {
        let upserted = attrs.upserted_memo.clone().unwrap_or_default();
        let mut current = self.memo.take().unwrap_or_default().0;
        merge(&mut current.fields, &upserted.fields);
        self.memo = (!current.fields.is_empty()).then_some(Proto(Memo {
            fields: current.fields,
        }));
        self.append(
            fx,
            now,
            EventType::WorkflowPropertiesModified,
            Attributes::WorkflowPropertiesModifiedEventAttributes(
                WorkflowPropertiesModifiedEventAttributes {
                    workflow_task_completed_event_id: completed_event_id,
                    upserted_memo: Some(upserted),
                },
            ),
        );
    }
}

/// Upserts `changes` into `fields`; an empty value (no data, JSON null or an empty list)
/// removes its key, as SDKs express removal.
fn merge(fields: &mut HashMap<String, Payload>, changes: &HashMap<String, Payload>) {
    for (key, value) in changes {
        if matches!(value.data.as_slice(), b"" | b"null" | b"[]") {
            fields.remove(key);
        } else {
            fields.insert(key.clone(), value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(data: &[u8]) -> Payload {
        Payload {
            data: data.to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn upserts_replace_add_and_remove_keys() {
        let mut fields = HashMap::from([
            ("a".to_owned(), payload(b"1")),
            ("b".to_owned(), payload(b"2")),
        ]);
        let changes = HashMap::from([
            ("a".to_owned(), payload(b"10")),
            ("b".to_owned(), payload(b"null")),
            ("c".to_owned(), payload(b"3")),
        ]);
        merge(&mut fields, &changes);
        let mut keys: Vec<_> = fields.keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["a", "c"]);
        assert_eq!(fields["a"].data, b"10");
    }
}
