//! The local API: every function's routes in one router, behind the stand-in for API
//! Gateway's JWT authorizer. The very same `routes()` run in Lambda.

use axum::Router;
use axum::middleware;
use sharing_core::Core;
use sharing_http::local_auth::{self, LocalAuth};

/// All HTTP routes of all functions.
pub fn routes() -> Router<Core> {
    Router::new()
        .merge(share_updates::routes())
        .merge(receiver_listings::routes())
        .merge(admin::routes())
        .merge(access_requests::routes())
        .merge(identity_grants::routes())
        .merge(audience_data::routes())
}

/// The finished local application: routes, the shared HTTP layers, and local JWT checks.
pub fn app(core: Core, jwt_secret: &str) -> Router {
    sharing_http::app(routes(), core).layer(middleware::from_fn_with_state(
        LocalAuth::new(jwt_secret),
        local_auth::layer,
    ))
}

/// Serves `app` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
