//! The `{id}` of a route, with the API's JSON error when it cannot be decoded (say `%FF`).

use crate::ApiError;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;

pub struct PathId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(id)) => Ok(PathId(id)),
            Err(rejection) => Err(ApiError::NotFound(format!(
                "There is no such resource: {}.",
                rejection.body_text().trim_end_matches('.')
            ))),
        }
    }
}
