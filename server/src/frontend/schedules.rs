//! The schedule RPCs of WorkflowService: the real server's checks and messages, then the
//! scheduler. `workflow.rs` forwards each RPC here.

use devserver_persistence::NamespaceRow;
use serde::{Deserialize, Serialize};
use temporalio_protos::temporal::api::common::v1::SearchAttributes;
use temporalio_protos::temporal::api::enums::v1::WorkflowIdReusePolicy;
use temporalio_protos::temporal::api::schedule::v1::Schedule;
use temporalio_protos::temporal::api::schedule::v1::schedule_action::Action;
use temporalio_protos::temporal::api::workflowservice::v1::*;

use super::requests::{MAX_ID_LENGTH, check_start, required};
use super::workflow::WorkflowFrontend;
use crate::engine::millis_of_timestamp;
use crate::error::{ServiceError, ServiceResult};
use crate::history::token;
use crate::schedules::{NewSchedule, canonicalize, conflict_token};

/// The real server runs each schedule as a workflow with this prefix, and holds schedule ids
/// to the workflow id limit with it.
const SCHEDULER_WORKFLOW_ID_PREFIX: &str = "temporal-sys-scheduler:";
/// What the id of a scheduled workflow gets appended: its start time, as long as this.
const APPENDED_TIMESTAMP: &str = "-2009-11-10T23:00:00Z";
/// Schedules per ListSchedules page when the client does not say (the real server's
/// visibility page size).
const DEFAULT_PAGE_SIZE: usize = 1000;

#[derive(Serialize, Deserialize)]
struct SchedulePageToken {
    after: String,
}

impl WorkflowFrontend {
    /// Checks a schedule id, in a namespace that exists (returned).
    fn check_schedule_id(&self, namespace: &str, schedule_id: &str) -> ServiceResult<NamespaceRow> {
        let row = self.namespaces.get(namespace)?;
        required(schedule_id, "ScheduleId")?;
        let workflow_id_length = SCHEDULER_WORKFLOW_ID_PREFIX.len() + schedule_id.len();
        if workflow_id_length > MAX_ID_LENGTH {
            return Err(ServiceError::InvalidArgument(format!(
                "WorkflowId exceeds maximum allowed length ({workflow_id_length}/{MAX_ID_LENGTH})"
            )));
        }
        Ok(row)
    }

    /// Checks a schedule and puts its spec in canonical form.
    fn check_schedule(&self, namespace: &str, schedule: &mut Schedule) -> ServiceResult<()> {
        let spec = schedule.spec.get_or_insert_default();
        *spec =
            canonicalize(spec).map_err(|error| ServiceError::InvalidArgument(error.to_string()))?;
        let Some(Action::StartWorkflow(workflow)) =
            schedule.action.as_mut().and_then(|a| a.action.as_mut())
        else {
            return Ok(());
        };
        // The scheduled workflow's request as the start will make it, id suffix included.
        let start = StartWorkflowExecutionRequest {
            namespace: namespace.into(),
            workflow_id: format!("{}{APPENDED_TIMESTAMP}", workflow.workflow_id),
            workflow_type: workflow.workflow_type.clone(),
            task_queue: workflow.task_queue.clone(),
            workflow_execution_timeout: workflow.workflow_execution_timeout,
            workflow_run_timeout: workflow.workflow_run_timeout,
            workflow_task_timeout: workflow.workflow_task_timeout,
            ..Default::default()
        };
        required(&workflow.workflow_id, "WorkflowId")?;
        check_start(&start)?;
        if !workflow.cron_schedule.is_empty() {
            return Err(ServiceError::InvalidArgument(
                "Scheduled workflow must not contain CronSchedule".into(),
            ));
        }
        if ![
            WorkflowIdReusePolicy::Unspecified,
            WorkflowIdReusePolicy::AllowDuplicate,
        ]
        .map(|p| p as i32)
        .contains(&workflow.workflow_id_reuse_policy)
        {
            return Err(ServiceError::InvalidArgument(
                "Scheduled workflow must not contain WorkflowIDReusePolicy".into(),
            ));
        }
        let search_attributes = self.namespaces.search_attributes();
        search_attributes.validate(namespace, workflow.search_attributes.as_ref())?;
        search_attributes.set_types(namespace, workflow.search_attributes.as_mut());
        Ok(())
    }

    /// Checks a schedule's own search attributes; ones that pass get their values typed.
    fn admit_schedule_search_attributes(
        &self,
        namespace: &str,
        attributes: &mut Option<SearchAttributes>,
    ) -> ServiceResult<()> {
        let search_attributes = self.namespaces.search_attributes();
        search_attributes.validate(namespace, attributes.as_ref())?;
        search_attributes.set_types(namespace, attributes.as_mut());
        Ok(())
    }

    pub(super) async fn schedule_create(
        &self,
        mut request: CreateScheduleRequest,
    ) -> ServiceResult<CreateScheduleResponse> {
        let namespace_id = self
            .check_schedule_id(&request.namespace, &request.schedule_id)?
            .id;
        required(&request.request_id, "RequestId")?;
        let mut schedule = request.schedule.unwrap_or_default();
        self.check_schedule(&request.namespace, &mut schedule)?;
        self.admit_schedule_search_attributes(&request.namespace, &mut request.search_attributes)?;
        self.scheduler
            .create(NewSchedule {
                namespace: request.namespace,
                namespace_id,
                schedule_id: request.schedule_id,
                schedule,
                initial_patch: request.initial_patch,
                memo: request.memo,
                search_attributes: request.search_attributes,
            })
            .await?;
        Ok(CreateScheduleResponse {
            conflict_token: 1i64.to_be_bytes().to_vec(),
        })
    }

    pub(super) async fn schedule_describe(
        &self,
        request: DescribeScheduleRequest,
    ) -> ServiceResult<DescribeScheduleResponse> {
        self.check_schedule_id(&request.namespace, &request.schedule_id)?;
        self.scheduler
            .describe(&request.namespace, &request.schedule_id)
            .await
    }

    pub(super) async fn schedule_update(
        &self,
        mut request: UpdateScheduleRequest,
    ) -> ServiceResult<UpdateScheduleResponse> {
        self.check_schedule_id(&request.namespace, &request.schedule_id)?;
        let mut schedule = request.schedule.unwrap_or_default();
        if !matches!(
            schedule.action.as_ref().and_then(|a| a.action.as_ref()),
            Some(Action::StartWorkflow(_))
        ) {
            return Err(ServiceError::InvalidArgument(
                "Only StartWorkflow action is supported for schedules".into(),
            ));
        }
        self.check_schedule(&request.namespace, &mut schedule)?;
        self.admit_schedule_search_attributes(&request.namespace, &mut request.search_attributes)?;
        self.scheduler
            .update(
                &request.namespace,
                &request.schedule_id,
                schedule,
                request.search_attributes,
                conflict_token(&request.conflict_token),
            )
            .await?;
        Ok(UpdateScheduleResponse {})
    }

    pub(super) async fn schedule_patch(
        &self,
        request: PatchScheduleRequest,
    ) -> ServiceResult<PatchScheduleResponse> {
        self.check_schedule_id(&request.namespace, &request.schedule_id)?;
        self.scheduler
            .patch(
                &request.namespace,
                &request.schedule_id,
                request.patch.unwrap_or_default(),
            )
            .await?;
        Ok(PatchScheduleResponse {})
    }

    pub(super) async fn schedule_delete(
        &self,
        request: DeleteScheduleRequest,
    ) -> ServiceResult<DeleteScheduleResponse> {
        self.check_schedule_id(&request.namespace, &request.schedule_id)?;
        self.scheduler
            .delete(&request.namespace, &request.schedule_id)
            .await?;
        Ok(DeleteScheduleResponse {})
    }

    pub(super) async fn schedule_list(
        &self,
        request: ListSchedulesRequest,
    ) -> ServiceResult<ListSchedulesResponse> {
        self.namespaces.get(&request.namespace)?;
        unfiltered(&request.query)?;
        let after = if request.next_page_token.is_empty() {
            String::new()
        } else {
            token::decode::<SchedulePageToken>(&request.next_page_token, "next page token")?.after
        };
        let page_size = match request.maximum_page_size {
            size if size > 0 => (size as usize).min(DEFAULT_PAGE_SIZE),
            _ => DEFAULT_PAGE_SIZE,
        };
        let page = self
            .scheduler
            .list(&request.namespace, &after, page_size)
            .await?;
        Ok(ListSchedulesResponse {
            schedules: page.schedules,
            next_page_token: page
                .last_id
                .map(|after| token::encode(&SchedulePageToken { after }))
                .unwrap_or_default(),
        })
    }

    pub(super) async fn schedule_count(
        &self,
        request: CountSchedulesRequest,
    ) -> ServiceResult<CountSchedulesResponse> {
        self.namespaces.get(&request.namespace)?;
        unfiltered(&request.query)?;
        let count = self.scheduler.count(&request.namespace).await?;
        Ok(CountSchedulesResponse {
            count,
            ..Default::default()
        })
    }

    pub(super) async fn schedule_matching_times(
        &self,
        request: ListScheduleMatchingTimesRequest,
    ) -> ServiceResult<ListScheduleMatchingTimesResponse> {
        self.check_schedule_id(&request.namespace, &request.schedule_id)?;
        let (Some(start), Some(end)) = (&request.start_time, &request.end_time) else {
            return Err(ServiceError::InvalidArgument(
                "missing or invalid query".into(),
            ));
        };
        let start_time = self
            .scheduler
            .matching_times(
                &request.namespace,
                &request.schedule_id,
                millis_of_timestamp(start),
                millis_of_timestamp(end),
            )
            .await?;
        Ok(ListScheduleMatchingTimesResponse { start_time })
    }
}

/// Schedule listings take no query yet.
fn unfiltered(query: &str) -> ServiceResult<()> {
    if query.trim().is_empty() {
        Ok(())
    } else {
        Err(ServiceError::Unimplemented(
            "devserver does not filter schedules by query yet".into(),
        ))
    }
}
