//! Create, Update and Delete.

use eventfold_persistent::{GroupSpec, PersistentSubscriptions, Source};
use eventfold_proto::event_store::client::persistent_subscriptions::{
    CreateReq, CreateResp, DeleteReq, DeleteResp, UpdateReq, UpdateResp, create_req, delete_req, update_req,
};
use tonic::Status;

use super::convert::{self, RawSettings};
use super::errors;

pub async fn create(subscriptions: &PersistentSubscriptions, request: CreateReq) -> Result<CreateResp, Status> {
    let options = request.options.ok_or_else(|| Status::invalid_argument("create without options"))?;
    let raw = options.settings.as_ref().ok_or_else(|| Status::invalid_argument("create without settings"))?;
    let settings = convert::settings(&RawSettings::from(raw))?;
    let (source, start_from, filter) = match &options.stream_option {
        Some(create_req::options::StreamOption::Stream(stream)) => {
            let identifier = stream
                .stream_identifier
                .as_ref()
                .ok_or_else(|| Status::invalid_argument("create without a stream identifier"))?;
            (convert::source(identifier)?, convert::stream_start(stream.revision_option.as_ref()), None)
        }
        Some(create_req::options::StreamOption::All(all)) => {
            let filter = match &all.filter_option {
                Some(create_req::all_options::FilterOption::Filter(filter)) => Some(convert::filter(filter)?),
                Some(create_req::all_options::FilterOption::NoFilter(_)) | None => None,
            };
            (Source::All, convert::all_start(all.all_option.as_ref()), filter)
        }
        // Old clients: the stream in the deprecated field, the start in
        // the deprecated `revision` setting.
        None => {
            #[allow(deprecated, reason = "the only place old clients name the stream")]
            let identifier = options.stream_identifier.as_ref();
            let identifier = identifier.ok_or_else(|| Status::invalid_argument("create names no stream"))?;
            #[allow(deprecated, reason = "the only place old clients give the start")]
            let revision = raw.revision;
            (convert::source(identifier)?, convert::legacy_start(revision), None)
        }
    };
    let key = convert::key(source, &options.group_name)?;
    let spec = GroupSpec { key, start_from, filter, settings };
    subscriptions.create(spec).await.map_err(|error| errors::create(&error))?;
    Ok(CreateResp {})
}

pub async fn update(subscriptions: &PersistentSubscriptions, request: UpdateReq) -> Result<UpdateResp, Status> {
    let options = request.options.ok_or_else(|| Status::invalid_argument("update without options"))?;
    let raw = options.settings.as_ref().ok_or_else(|| Status::invalid_argument("update without settings"))?;
    let settings = convert::settings(&RawSettings::from(raw))?;
    let (source, start_from) = match &options.stream_option {
        Some(update_req::options::StreamOption::Stream(stream)) => {
            let identifier = stream
                .stream_identifier
                .as_ref()
                .ok_or_else(|| Status::invalid_argument("update without a stream identifier"))?;
            (convert::source(identifier)?, convert::update_stream_start(stream.revision_option.as_ref()))
        }
        Some(update_req::options::StreamOption::All(all)) => {
            (Source::All, convert::update_all_start(all.all_option.as_ref()))
        }
        None => {
            #[allow(deprecated, reason = "the only place old clients name the stream")]
            let identifier = options.stream_identifier.as_ref();
            let identifier = identifier.ok_or_else(|| Status::invalid_argument("update names no stream"))?;
            #[allow(deprecated, reason = "the only place old clients give the start")]
            let revision = raw.revision;
            (convert::source(identifier)?, convert::legacy_start(revision))
        }
    };
    let key = convert::key(source, &options.group_name)?;
    subscriptions.update(&key, start_from, settings).await.map_err(|error| errors::update(&error))?;
    Ok(UpdateResp {})
}

pub async fn delete(subscriptions: &PersistentSubscriptions, request: DeleteReq) -> Result<DeleteResp, Status> {
    let options = request.options.ok_or_else(|| Status::invalid_argument("delete without options"))?;
    let key = match &options.stream_option {
        Some(delete_req::options::StreamOption::StreamIdentifier(identifier)) => {
            convert::key_of(Some(identifier), false, &options.group_name)?
        }
        Some(delete_req::options::StreamOption::All(_)) => convert::key_of(None, true, &options.group_name)?,
        None => convert::key_of(None, false, &options.group_name)?,
    };
    subscriptions.delete(&key).await.map_err(|error| errors::group(&error))?;
    Ok(DeleteResp {})
}
