//! The node as a handler must use it: acting for the request's caller, so
//! that every store call and operation is checked for that principal. The
//! authentication layer names the caller; a request it did not see acts as
//! an unauthenticated one.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use eventfold_node::Node;
use eventfold_store::Principal;

/// Extracts the node scoped to the caller. Use it instead of `State<Node>`
/// in every handler that reaches the store, the subsystems or operations.
pub struct Caller(pub Node);

impl FromRequestParts<Node> for Caller {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, node: &Node) -> Result<Self, Self::Rejection> {
        let principal =
            parts.extensions.get::<Principal>().cloned().unwrap_or_else(|| node.unauthenticated_principal());
        Ok(Caller(node.for_principal(principal)))
    }
}
