//! Lambda entry point: wiring only; the routes live in the library.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    sharing_http::runtime::run_http(audience_data::routes).await
}
