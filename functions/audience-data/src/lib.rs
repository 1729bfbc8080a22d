//! (being built)

use axum::Router;
use sharing_core::Core;

pub fn routes() -> Router<Core> {
    Router::new()
}
