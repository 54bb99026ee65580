//! Call credentials as the official clients send them: `user:password@` in
//! the connection string becomes an `authorization: Basic …` header on
//! every call. Like those clients, only over TLS: a password is not sent in
//! the clear (an insecure server authenticates no one anyway).

use base64::Engine as _;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Request, Status};

/// The channel every generated client of this crate runs on: the
/// connection, with the caller's credentials added to each call.
pub type Transport = InterceptedService<Channel, Credentials>;

/// The header a connection adds to each call, if any.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    header: Option<AsciiMetadataValue>,
}

impl Credentials {
    /// Basic credentials for `login` and `password`, or none when the
    /// header could not carry them (never for base64 text).
    pub fn basic(login: &str, password: &str) -> Self {
        Self { header: MetadataValue::try_from(basic_authorization(login, password)).ok() }
    }

    pub fn none() -> Self {
        Self::default()
    }
}

/// The `Authorization` value of Basic credentials, for gRPC and HTTP alike.
pub fn basic_authorization(login: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{login}:{password}")))
}

impl Interceptor for Credentials {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(header) = &self.header {
            request.metadata_mut().insert("authorization", header.clone());
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_added_to_every_call() {
        let mut credentials = Credentials::basic("admin", "changeit");
        let request = credentials.call(Request::new(())).expect("added");
        assert_eq!(
            request.metadata().get("authorization").and_then(|value| value.to_str().ok()),
            Some("Basic YWRtaW46Y2hhbmdlaXQ=")
        );
        let request = Credentials::none().call(Request::new(())).expect("nothing added");
        assert!(request.metadata().get("authorization").is_none());
    }
}
