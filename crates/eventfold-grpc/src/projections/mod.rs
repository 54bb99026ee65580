//! `event_store.client.projections.Projections`: each method translates the
//! protocol to calls on [`Projections`] (the `eventfold-projections` crate)
//! and its errors to the statuses the official clients expect.

mod convert;
mod errors;

use errors::{Expected, status};
use eventfold_node::Node;
use eventfold_projections::{CreateProjection, DeleteOptions, Mode, Projections, RunAs, Select};
use eventfold_proto::event_store::client::Empty;
use eventfold_proto::event_store::client::projections::projections_server::Projections as Service;
use eventfold_proto::event_store::client::projections::{
    CreateReq, CreateResp, DeleteReq, DeleteResp, DisableReq, DisableResp, EnableReq, EnableResp, ResetReq, ResetResp,
    ResultReq, ResultResp, StateReq, StateResp, StatisticsReq, StatisticsResp, UpdateReq, UpdateResp, create_req,
    statistics_req, update_req,
};
use eventfold_store::Operation;
use tonic::{Request, Response, Status};

use crate::caller::{authorize, caller};

use crate::streams::ResponseStream;

pub struct ProjectionsService {
    /// To decide who may manage projections (`$ops` and `$admins`).
    node: Node,
    projections: Projections,
}

impl ProjectionsService {
    pub fn new(node: Node) -> Self {
        Self { projections: node.projections().clone(), node }
    }

    fn may_manage<T>(&self, request: &Request<T>) -> Result<(), Status> {
        authorize(&self.node, request, Operation::ManageProjections)
    }
}

fn missing_options() -> Status {
    Status::invalid_argument("the request has no options")
}

#[tonic::async_trait]
impl Service for ProjectionsService {
    type StatisticsStream = ResponseStream<StatisticsResp>;

    async fn create(&self, request: Request<CreateReq>) -> Result<Response<CreateResp>, Status> {
        self.may_manage(&request)?;
        let run_as = RunAs::of(caller(&self.node, &request).principal());
        let options = request.into_inner().options.ok_or_else(missing_options)?;
        let (mode, name, emit_enabled, track_emitted_streams) = match options.mode {
            Some(create_req::options::Mode::OneTime(_)) => (Mode::OneTime, String::new(), false, false),
            Some(create_req::options::Mode::Transient(transient)) => (Mode::Transient, transient.name, false, false),
            Some(create_req::options::Mode::Continuous(continuous)) => {
                (Mode::Continuous, continuous.name, continuous.emit_enabled, continuous.track_emitted_streams)
            }
            None => return Err(Status::unknown("Exception was thrown by handler. The projection mode is missing.")),
        };
        let create = CreateProjection {
            name,
            mode,
            query: options.query,
            emit_enabled,
            track_emitted_streams,
            engine_version: options.engine_version,
            run_as,
        };
        self.projections.create(create).await.map_err(|error| status(error, Expected::Updated))?;
        Ok(Response::new(CreateResp {}))
    }

    async fn update(&self, request: Request<UpdateReq>) -> Result<Response<UpdateResp>, Status> {
        self.may_manage(&request)?;
        let options = request.into_inner().options.ok_or_else(missing_options)?;
        let emit = match options.emit_option {
            Some(update_req::options::EmitOption::EmitEnabled(emit)) => Some(emit),
            Some(update_req::options::EmitOption::NoEmitOptions(_)) => None,
            None => return Err(Status::unknown("Exception was thrown by handler. The emit option is missing.")),
        };
        self.projections
            .update(&options.name, options.query, emit)
            .await
            .map_err(|error| status(error, Expected::Updated))?;
        Ok(Response::new(UpdateResp {}))
    }

    async fn delete(&self, request: Request<DeleteReq>) -> Result<Response<DeleteResp>, Status> {
        self.may_manage(&request)?;
        let options = request.into_inner().options.ok_or_else(missing_options)?;
        let delete = DeleteOptions {
            emitted_streams: options.delete_emitted_streams,
            state_stream: options.delete_state_stream,
            checkpoint_stream: options.delete_checkpoint_stream,
        };
        self.projections.delete(&options.name, delete).await.map_err(|error| status(error, Expected::Updated))?;
        Ok(Response::new(DeleteResp {}))
    }

    async fn statistics(&self, request: Request<StatisticsReq>) -> Result<Response<Self::StatisticsStream>, Status> {
        let options = request.into_inner().options.ok_or_else(missing_options)?;
        let select = match options.mode {
            Some(statistics_req::options::Mode::Name(name)) => Select::Named(name),
            Some(statistics_req::options::Mode::All(_)) | None => Select::All,
            Some(statistics_req::options::Mode::Transient(_)) => Select::Mode(Mode::Transient),
            Some(statistics_req::options::Mode::Continuous(_)) => Select::Mode(Mode::Continuous),
            Some(statistics_req::options::Mode::OneTime(_)) => Select::Mode(Mode::OneTime),
        };
        let all = self.projections.statistics(select).await.map_err(|error| status(error, Expected::Statistics))?;
        let answers: Vec<Result<StatisticsResp, Status>> = all
            .into_iter()
            .map(|statistics| Ok(StatisticsResp { details: Some(convert::details(statistics)) }))
            .collect();
        Ok(Response::new(Box::pin(futures::stream::iter(answers))))
    }

    async fn disable(&self, request: Request<DisableReq>) -> Result<Response<DisableResp>, Status> {
        self.may_manage(&request)?;
        let options = request.into_inner().options.ok_or_else(missing_options)?;
        self.projections
            .disable(&options.name, options.write_checkpoint)
            .await
            .map_err(|error| status(error, Expected::Updated))?;
        Ok(Response::new(DisableResp {}))
    }

    async fn enable(&self, request: Request<EnableReq>) -> Result<Response<EnableResp>, Status> {
        self.may_manage(&request)?;
        let options = request.into_inner().options.ok_or_else(missing_options)?;
        self.projections.enable(&options.name).await.map_err(|error| status(error, Expected::Updated))?;
        Ok(Response::new(EnableResp {}))
    }

    async fn reset(&self, request: Request<ResetReq>) -> Result<Response<ResetResp>, Status> {
        self.may_manage(&request)?;
        let options = request.into_inner().options.ok_or_else(missing_options)?;
        self.projections.reset(&options.name, None).await.map_err(|error| status(error, Expected::Updated))?;
        Ok(Response::new(ResetResp {}))
    }

    async fn state(&self, request: Request<StateReq>) -> Result<Response<StateResp>, Status> {
        let options = request.into_inner().options.ok_or_else(missing_options)?;
        let state = self
            .projections
            .state(&options.name, &options.partition)
            .await
            .map_err(|error| status(error, Expected::ProjectionState))?;
        Ok(Response::new(StateResp { state: Some(convert::json_value(state.as_deref())) }))
    }

    async fn result(&self, request: Request<ResultReq>) -> Result<Response<ResultResp>, Status> {
        let options = request.into_inner().options.ok_or_else(missing_options)?;
        let result = self
            .projections
            .result(&options.name, &options.partition)
            .await
            .map_err(|error| status(error, Expected::ProjectionResult))?;
        Ok(Response::new(ResultResp { result: Some(convert::json_value(result.as_deref())) }))
    }

    async fn restart_subsystem(&self, request: Request<Empty>) -> Result<Response<Empty>, Status> {
        authorize(&self.node, &request, Operation::RestartSubsystems)?;
        match self.projections.restart().await {
            Ok(()) => Ok(Response::new(Empty {})),
            Err(eventfold_projections::ProjectionError::OperationFailed(reason)) => {
                Err(Status::failed_precondition(reason))
            }
            Err(error) => Err(status(error, Expected::Updated)),
        }
    }
}
