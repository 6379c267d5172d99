//! `temporal.api.operatorservice.v1.OperatorService`: search attributes and Nexus endpoints.
//! RPCs not listed here answer UNIMPLEMENTED (the generated default).

use std::sync::Arc;

use devserver_proto::operatorservice::operator_service_server::OperatorService;
use temporalio_protos::temporal::api::operatorservice::v1::*;
use tonic::{Request, Response, Status};

use super::status::status;
use crate::error::{ServiceError, ServiceResult};
use crate::namespaces::Namespaces;
use crate::nexus_endpoints::NexusEndpointRegistry;
use crate::search_attributes;
use crate::timers::Clock;

pub struct OperatorFrontend {
    pub namespaces: Arc<Namespaces>,
    pub nexus_endpoints: Arc<NexusEndpointRegistry>,
    /// Stamps endpoints' created and last modified times.
    pub clock: Arc<dyn Clock>,
}

type RpcResult<T> = Result<Response<T>, Status>;

fn respond<T>(result: ServiceResult<T>) -> RpcResult<T> {
    result.map(Response::new).map_err(status)
}

fn invalid(message: &str) -> ServiceError {
    ServiceError::InvalidArgument(message.to_owned())
}

impl OperatorFrontend {
    /// The namespace a request names, checked in the real server's order: set, then known.
    fn namespace<'a>(&self, namespace: &'a str) -> ServiceResult<&'a str> {
        if namespace.is_empty() {
            return Err(invalid("Namespace is not set on request."));
        }
        self.namespaces.get(namespace)?;
        Ok(namespace)
    }
}

#[tonic::async_trait]
impl OperatorService for OperatorFrontend {
    async fn add_search_attributes(
        &self,
        request: Request<AddSearchAttributesRequest>,
    ) -> RpcResult<AddSearchAttributesResponse> {
        let request = request.into_inner();
        let added = async {
            let namespace = self.namespace(&request.namespace)?;
            if request.search_attributes.is_empty() {
                return Err(invalid("SearchAttributes are not set on request."));
            }
            let attributes = request
                .search_attributes
                .iter()
                .map(|(name, value_type)| (name.clone(), *value_type))
                .collect();
            self.namespaces
                .search_attributes()
                .add(namespace, &attributes)
                .await
        };
        respond(added.await.map(|()| AddSearchAttributesResponse {}))
    }

    async fn remove_search_attributes(
        &self,
        request: Request<RemoveSearchAttributesRequest>,
    ) -> RpcResult<RemoveSearchAttributesResponse> {
        let request = request.into_inner();
        let removed = async {
            let namespace = self.namespace(&request.namespace)?;
            if request.search_attributes.is_empty() {
                return Err(invalid("SearchAttributes are not set on request."));
            }
            self.namespaces
                .search_attributes()
                .remove(namespace, &request.search_attributes)
                .await
        };
        respond(removed.await.map(|()| RemoveSearchAttributesResponse {}))
    }

    async fn list_search_attributes(
        &self,
        request: Request<ListSearchAttributesRequest>,
    ) -> RpcResult<ListSearchAttributesResponse> {
        let request = request.into_inner();
        let listed = self.namespace(&request.namespace).map(|namespace| {
            let custom = self.namespaces.search_attributes().custom(namespace);
            ListSearchAttributesResponse {
                custom_attributes: custom
                    .into_iter()
                    .map(|(name, value_type)| (name, value_type as i32))
                    .collect(),
                system_attributes: search_attributes::system()
                    .map(|(name, value_type)| (name.to_owned(), value_type as i32))
                    .collect(),
                // devserver has no visibility store whose columns it could name.
                storage_schema: Default::default(),
            }
        });
        respond(listed)
    }

    async fn create_nexus_endpoint(
        &self,
        request: Request<CreateNexusEndpointRequest>,
    ) -> RpcResult<CreateNexusEndpointResponse> {
        let request = request.into_inner();
        let created = self
            .nexus_endpoints
            .create(request.spec, self.clock.now())
            .await;
        respond(created.map(|endpoint| CreateNexusEndpointResponse {
            endpoint: Some(endpoint),
        }))
    }

    async fn get_nexus_endpoint(
        &self,
        request: Request<GetNexusEndpointRequest>,
    ) -> RpcResult<GetNexusEndpointResponse> {
        let found = self.nexus_endpoints.get(&request.get_ref().id);
        respond(found.map(|endpoint| GetNexusEndpointResponse {
            endpoint: Some(endpoint),
        }))
    }

    async fn update_nexus_endpoint(
        &self,
        request: Request<UpdateNexusEndpointRequest>,
    ) -> RpcResult<UpdateNexusEndpointResponse> {
        let request = request.into_inner();
        let updated = self
            .nexus_endpoints
            .update(&request.id, request.version, request.spec, self.clock.now())
            .await;
        respond(updated.map(|endpoint| UpdateNexusEndpointResponse {
            endpoint: Some(endpoint),
        }))
    }

    async fn delete_nexus_endpoint(
        &self,
        request: Request<DeleteNexusEndpointRequest>,
    ) -> RpcResult<DeleteNexusEndpointResponse> {
        let request = request.into_inner();
        let deleted = self
            .nexus_endpoints
            .delete(&request.id, request.version)
            .await;
        respond(deleted.map(|()| DeleteNexusEndpointResponse {}))
    }

    async fn list_nexus_endpoints(
        &self,
        request: Request<ListNexusEndpointsRequest>,
    ) -> RpcResult<ListNexusEndpointsResponse> {
        let request = request.into_inner();
        let listed =
            self.nexus_endpoints
                .list(request.page_size, &request.next_page_token, &request.name);
        respond(
            listed.map(|(endpoints, next_page_token)| ListNexusEndpointsResponse {
                endpoints,
                next_page_token,
            }),
        )
    }
}
