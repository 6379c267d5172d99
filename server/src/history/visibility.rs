//! Lists and counts of runs (ListWorkflowExecutions, CountWorkflowExecutions), from the
//! visibility columns the commit path keeps beside each run's state: a new or changed run
//! is visible to the very next call.

use devserver_persistence::Listing;
use serde::{Deserialize, Serialize};
use temporalio_protos::temporal::api::common::v1::Payload;
use temporalio_protos::temporal::api::workflowservice::v1::count_workflow_executions_response::AggregationGroup;
use temporalio_protos::temporal::api::workflowservice::v1::{
    CountWorkflowExecutionsResponse, ListWorkflowExecutionsResponse,
};

use super::token;
use super::{History, decode_state};
use crate::error::ServiceResult;
use crate::visibility;

/// Runs per page when the client does not say (the real server's default).
const DEFAULT_PAGE_SIZE: i64 = 1000;

/// Where the next page of a listing starts.
#[derive(Serialize, Deserialize)]
struct ListPageToken {
    offset: i64,
}

impl History {
    /// A page of the runs of a namespace that a query selects, in its order.
    pub async fn list_workflows(
        &self,
        namespace: &str,
        query: &visibility::Sql,
        page_size: i32,
        next_page_token: &[u8],
    ) -> ServiceResult<ListWorkflowExecutionsResponse> {
        let offset = if next_page_token.is_empty() {
            0
        } else {
            token::decode::<ListPageToken>(next_page_token, "next page token")?.offset
        };
        let page_size = match i64::from(page_size) {
            size if size > 0 => size,
            _ => DEFAULT_PAGE_SIZE,
        };
        // One more than a page tells whether another page follows.
        let rows = self
            .store
            .list_executions(
                &listing(namespace, query),
                &query.order_by,
                page_size + 1,
                offset,
            )
            .await?;
        let more = rows.len() as i64 > page_size;
        let executions = rows
            .into_iter()
            .take(page_size as usize)
            .map(|row| decode_state(row).map(|state| state.execution_info()))
            .collect::<ServiceResult<Vec<_>>>()?;
        Ok(ListWorkflowExecutionsResponse {
            executions,
            next_page_token: if more {
                token::encode(&ListPageToken {
                    offset: offset + page_size,
                })
            } else {
                Vec::new()
            },
        })
    }

    /// How many runs of a namespace a query selects, and with `GROUP BY ExecutionStatus`
    /// how many of each status.
    pub async fn count_workflows(
        &self,
        namespace: &str,
        query: &visibility::Sql,
    ) -> ServiceResult<CountWorkflowExecutionsResponse> {
        let counts = self
            .store
            .count_executions_by_status(&listing(namespace, query))
            .await?;
        let count = counts.iter().map(|(_, count)| count).sum();
        let groups = if query.group_by_status {
            counts
                .into_iter()
                .map(|(status, count)| AggregationGroup {
                    group_values: vec![status_payload(status)],
                    count,
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(CountWorkflowExecutionsResponse { count, groups })
    }
}

fn listing<'a>(namespace: &'a str, query: &'a visibility::Sql) -> Listing<'a> {
    Listing {
        namespace,
        filter: &query.filter,
        params: &query.params,
    }
}

/// A status as the real server reports a group's value: its name as a JSON string.
fn status_payload(status: i32) -> Payload {
    let name = visibility::status_name(i64::from(status)).unwrap_or("Unspecified");
    Payload {
        metadata: [
            ("encoding".to_owned(), b"json/plain".to_vec()),
            ("type".to_owned(), b"Keyword".to_vec()),
        ]
        .into(),
        data: serde_json::to_vec(name).expect("a string serializes"),
        ..Default::default()
    }
}
