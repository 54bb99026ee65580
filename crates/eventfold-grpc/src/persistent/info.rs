//! GetInfo and List: a group's settings and statistics as `SubscriptionInfo`.
//! Positions are strings: a revision for stream groups, `C:<commit>/P:<prepare>`
//! for `$all` groups, as the clients parse them.

use eventfold_persistent::{ConnectionInfo, Cursor, GroupInfo, PersistentSubscriptions, Source, StartFrom};
use eventfold_proto::event_store::client::persistent_subscriptions::{
    GetInfoReq, GetInfoResp, ListReq, ListResp, SubscriptionInfo, get_info_req, list_req, subscription_info,
};
use tonic::Status;

use super::convert;
use super::errors;

pub async fn get_info(subscriptions: &PersistentSubscriptions, request: GetInfoReq) -> Result<GetInfoResp, Status> {
    let options = request.options.ok_or_else(|| Status::invalid_argument("get info without options"))?;
    let key = match &options.stream_option {
        Some(get_info_req::options::StreamOption::StreamIdentifier(identifier)) => {
            convert::key_of(Some(identifier), false, &options.group_name)?
        }
        Some(get_info_req::options::StreamOption::All(_)) => convert::key_of(None, true, &options.group_name)?,
        None => convert::key_of(None, false, &options.group_name)?,
    };
    let info = subscriptions.info(&key).await.map_err(|error| errors::group(&error))?;
    Ok(GetInfoResp { subscription_info: Some(subscription_info(&info)) })
}

pub async fn list(subscriptions: &PersistentSubscriptions, request: ListReq) -> Result<ListResp, Status> {
    let options = request.options.ok_or_else(|| Status::invalid_argument("list without options"))?;
    let source = match options.list_option {
        Some(list_req::options::ListOption::ListAllSubscriptions(_)) | None => None,
        Some(list_req::options::ListOption::ListForStream(stream)) => match stream.stream_option {
            Some(list_req::stream_option::StreamOption::Stream(identifier)) => Some(convert::source(&identifier)?),
            Some(list_req::stream_option::StreamOption::All(_)) => Some(Source::All),
            None => return Err(Status::invalid_argument("list for a stream names no stream")),
        },
    };
    let infos = subscriptions.list(source.as_ref()).await.map_err(|error| errors::group(&error))?;
    // EventStoreDB answers "not found" for a stream without groups (the
    // clients turn it into an empty list), and an empty list for all.
    if let (Some(source), true) = (&source, infos.is_empty()) {
        return Err(Status::not_found(format!("Subscription groups on stream {} do not exist.", source.label())));
    }
    Ok(ListResp { subscriptions: infos.iter().map(subscription_info).collect() })
}

fn subscription_info(info: &GroupInfo) -> SubscriptionInfo {
    let spec = &info.spec;
    let settings = &spec.settings;
    let source = spec.key.source();
    let position = |cursor: Option<Cursor>| cursor.map(|cursor| format_cursor(source, cursor)).unwrap_or_default();
    let start_from = match (source, spec.start_from) {
        (Source::All, StartFrom::Start) => "C:0/P:0".to_owned(),
        (Source::All, StartFrom::End) => "C:-1/P:-1".to_owned(),
        (_, StartFrom::Start) => "0".to_owned(),
        (_, StartFrom::End) => "-1".to_owned(),
        (_, StartFrom::Revision(revision)) => revision.to_string(),
        (_, StartFrom::Position(position)) => format_cursor(source, position.0),
    };
    SubscriptionInfo {
        event_source: source.label().to_owned(),
        group_name: spec.key.group().to_owned(),
        status: info.status.describe(),
        connections: info.connections.iter().map(connection_info).collect(),
        average_per_second: clamp_i32(info.average_per_second.round() as u64),
        total_items: clamp_i64(info.total_items),
        count_since_last_measurement: clamp_i64(info.count_since_last_measurement),
        last_checkpointed_event_position: position(info.last_checkpointed),
        last_known_event_position: position(info.last_known),
        resolve_link_tos: settings.resolve_links,
        start_from,
        message_timeout_milliseconds: clamp_i32(millis(settings.message_timeout)),
        extra_statistics: settings.extra_statistics,
        max_retry_count: clamp_i32(u64::from(settings.max_retry_count)),
        live_buffer_size: clamp_i32(u64::from(settings.live_buffer_size)),
        buffer_size: clamp_i32(u64::from(settings.history_buffer_size)),
        read_batch_size: clamp_i32(u64::from(settings.read_batch_size)),
        check_point_after_milliseconds: clamp_i32(millis(settings.checkpoint_after)),
        min_check_point_count: clamp_i32(u64::from(settings.min_checkpoint_count)),
        max_check_point_count: clamp_i32(u64::from(settings.max_checkpoint_count)),
        read_buffer_count: clamp_i32(info.read_buffer_count as u64),
        live_buffer_count: clamp_i64(info.live_buffer_count as u64),
        retry_buffer_count: clamp_i32(info.retry_buffer_count as u64),
        total_in_flight_messages: clamp_i32(info.in_flight as u64),
        outstanding_messages_count: clamp_i32(info.in_flight as u64),
        named_consumer_strategy: settings.consumer_strategy.name().to_owned(),
        max_subscriber_count: clamp_i32(u64::from(settings.max_subscriber_count)),
        parked_message_count: clamp_i64(info.parked_count),
    }
}

fn connection_info(connection: &ConnectionInfo) -> subscription_info::ConnectionInfo {
    subscription_info::ConnectionInfo {
        from: connection.from.clone(),
        username: String::new(),
        average_items_per_second: clamp_i32(connection.average_items_per_second.round() as u64),
        total_items: clamp_i64(connection.total_items),
        count_since_last_measurement: clamp_i64(connection.count_since_last_measurement),
        observed_measurements: connection
            .observed_measurements
            .iter()
            .map(|(key, value)| subscription_info::Measurement { key: key.clone(), value: *value })
            .collect(),
        available_slots: clamp_i32(connection.available_slots as u64),
        in_flight_messages: clamp_i32(connection.in_flight as u64),
        connection_name: connection.name.clone(),
    }
}

fn format_cursor(source: &Source, cursor: Cursor) -> String {
    match source {
        Source::Stream(_) => cursor.to_string(),
        Source::All => format!("C:{cursor}/P:{cursor}"),
    }
}

fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn clamp_i32(value: u64) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

fn clamp_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
