//! `temporal.api.testservice.v1.TestService`: the test server's control of a skipping clock,
//! served only when time skips globally.

use std::sync::Arc;

use devserver_proto::testservice::test_service_server::TestService;
use temporalio_protos::temporal::api::testservice::v1::{
    GetCurrentTimeResponse, LockTimeSkippingRequest, LockTimeSkippingResponse, SleepRequest,
    SleepResponse, SleepUntilRequest, UnlockTimeSkippingRequest, UnlockTimeSkippingResponse,
};
use tonic::{Request, Response, Status};

use crate::engine::{Millis, millis_of, millis_of_timestamp, timestamp};
use crate::timers::{Clock, TimeSkipper, UnbalancedUnlock};

pub struct TestFrontend {
    pub skipper: Arc<TimeSkipper>,
}

impl TestFrontend {
    async fn sleep_until(
        &self,
        at: Millis,
        relock: bool,
    ) -> Result<Response<SleepResponse>, Status> {
        self.skipper
            .sleep_until(at, relock)
            .await
            .map_err(unbalanced)?;
        Ok(Response::new(SleepResponse {}))
    }
}

fn unbalanced(error: UnbalancedUnlock) -> Status {
    Status::failed_precondition(error.to_string())
}

#[tonic::async_trait]
impl TestService for TestFrontend {
    async fn lock_time_skipping(
        &self,
        _request: Request<LockTimeSkippingRequest>,
    ) -> Result<Response<LockTimeSkippingResponse>, Status> {
        self.skipper.lock();
        Ok(Response::new(LockTimeSkippingResponse {}))
    }

    async fn unlock_time_skipping(
        &self,
        _request: Request<UnlockTimeSkippingRequest>,
    ) -> Result<Response<UnlockTimeSkippingResponse>, Status> {
        self.skipper.unlock().map_err(unbalanced)?;
        Ok(Response::new(UnlockTimeSkippingResponse {}))
    }

    async fn sleep(
        &self,
        request: Request<SleepRequest>,
    ) -> Result<Response<SleepResponse>, Status> {
        let wait = millis_of(request.get_ref().duration.as_ref());
        self.sleep_until(self.skipper.now().saturating_add(wait), false)
            .await
    }

    async fn sleep_until(
        &self,
        request: Request<SleepUntilRequest>,
    ) -> Result<Response<SleepResponse>, Status> {
        let at = request
            .get_ref()
            .timestamp
            .as_ref()
            .map_or(0, millis_of_timestamp);
        self.sleep_until(at, false).await
    }

    async fn unlock_time_skipping_with_sleep(
        &self,
        request: Request<SleepRequest>,
    ) -> Result<Response<SleepResponse>, Status> {
        let wait = millis_of(request.get_ref().duration.as_ref());
        self.sleep_until(self.skipper.now().saturating_add(wait), true)
            .await
    }

    async fn get_current_time(
        &self,
        _request: Request<()>,
    ) -> Result<Response<GetCurrentTimeResponse>, Status> {
        Ok(Response::new(GetCurrentTimeResponse {
            time: Some(timestamp(self.skipper.now())),
        }))
    }
}
