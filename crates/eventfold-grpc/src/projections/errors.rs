//! Projection errors as KurrentDB answers them (its 24.6+ texts), so that
//! the official clients raise their own exceptions: they look for these
//! phrases in UNKNOWN statuses.

use eventfold_projections::ProjectionError;
use tonic::Status;

/// The message an answer was expected as, in KurrentDB's envelope texts.
#[derive(Clone, Copy)]
pub enum Expected {
    Updated,
    Statistics,
    ProjectionState,
    ProjectionResult,
}

impl Expected {
    fn as_str(self) -> &'static str {
        match self {
            Expected::Updated => "Updated",
            Expected::Statistics => "Statistics",
            Expected::ProjectionState => "ProjectionState",
            Expected::ProjectionResult => "ProjectionResult",
        }
    }
}

pub fn status(error: ProjectionError, expected: Expected) -> Status {
    match error {
        ProjectionError::NotFound(name) => Status::not_found(format!("Projection '{name}' not found")),
        ProjectionError::AlreadyExists(name) => Status::unknown(format!(
            "Envelope callback expected {}, received Conflict instead (projection '{name}' already exists)",
            expected.as_str()
        )),
        ProjectionError::OperationFailed(reason) => Status::unknown(format!(
            "Envelope callback expected {}, received OperationFailed instead: {reason}",
            expected.as_str()
        )),
        ProjectionError::InvalidArgument(reason) => {
            Status::unknown(format!("Exception was thrown by handler. {reason}"))
        }
        ProjectionError::InvalidQuery(error) => Status::unknown(format!("Exception was thrown by handler. {error}")),
        ProjectionError::NotRunning => Status::unavailable("projections are not running on this node"),
        ProjectionError::Storage(reason) => Status::unavailable(reason),
        ProjectionError::NotLeader(leader) => crate::errors::not_leader(&leader),
    }
}

#[cfg(test)]
mod tests {
    use eventfold_projections::runtime::QueryError;
    use tonic::Code;

    use super::*;

    #[test]
    fn clients_find_their_phrases() {
        let conflict = status(ProjectionError::AlreadyExists("p".into()), Expected::Updated);
        assert_eq!(conflict.code(), Code::Unknown);
        assert!(conflict.message().contains("Envelope callback expected Updated, received Conflict instead"));
        let failed = status(ProjectionError::OperationFailed("busy".into()), Expected::Updated);
        assert!(failed.message().contains("Envelope callback expected Updated, received OperationFailed instead"));
        let missing = status(ProjectionError::NotFound("p".into()), Expected::ProjectionState);
        assert_eq!(missing.code(), Code::NotFound);
        assert_eq!(missing.message(), "Projection 'p' not found");
        let syntax = status(
            ProjectionError::InvalidQuery(QueryError::Syntax {
                line: 2,
                column: 7,
                message: "unexpected token".into(),
            }),
            Expected::Updated,
        );
        assert!(syntax.message().starts_with("Exception was thrown by handler."));
        assert!(syntax.message().contains("line 2, column 7"));
    }
}
