//! The node as a call must use it: acting for the caller the server's
//! authentication layer put in the request's extensions (a request it did
//! not see acts as an unauthenticated one).

use eventfold_node::Node;
use eventfold_store::{Operation, Principal};
use tonic::{Request, Status};

use crate::errors;

pub fn caller<T>(node: &Node, request: &Request<T>) -> Node {
    let principal =
        request.extensions().get::<Principal>().cloned().unwrap_or_else(|| node.unauthenticated_principal());
    node.for_principal(principal)
}

/// Refuses the call unless its caller may run `operation` on the node.
pub fn authorize<T>(node: &Node, request: &Request<T>, operation: Operation) -> Result<(), Status> {
    caller(node, request).authorize(operation).map_err(|denied| errors::access_denied(&denied))
}
