//! Request parts read the API's way: a failure is a JSON error with the
//! right status, never axum's plain-text rejection.

use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

/// A JSON body; an empty body reads as `{}` (so `curl -X POST .../approve` needs none, while a
/// call with required fields still says which is missing).
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<JsonBody<T>, ApiError> {
        let json = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/json"));
        let bytes = Bytes::from_request(request, state).await.map_err(|e| ApiError::new(e.status(), e.body_text()))?;
        let empty = bytes.iter().all(u8::is_ascii_whitespace);
        if !empty && json != Some(true) {
            return Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "send the body as JSON, with `Content-Type: application/json`"));
        }
        let shape = |e: serde_json::Error| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("the body is not what this call takes: {e}"));
        // No body, or `null`, is an empty object; anything else must be an object (serde would also read a struct from an array).
        let value: serde_json::Value = if empty { serde_json::Value::Null } else { serde_json::from_slice(&bytes).map_err(shape)? };
        let value = match value {
            serde_json::Value::Null => serde_json::Value::Object(serde_json::Map::new()),
            object @ serde_json::Value::Object(_) => object,
            _ => return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "the body must be a JSON object")),
        };
        serde_json::from_value(value).map(JsonBody).map_err(shape)
    }
}

/// The `{id}` of a run's path.
pub struct RunPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for RunPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<RunPath, ApiError> {
        let axum::extract::Path(id) = axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(format!("the run id in the path: {}", e.body_text())))?;
        Ok(RunPath(id))
    }
}

/// A query string as name → value (the last value of a repeated name).
pub struct QueryMap(pub std::collections::HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for QueryMap {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<QueryMap, ApiError> {
        let axum::extract::Query(map) = axum::extract::Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(format!("the query string: {}", e.body_text())))?;
        Ok(QueryMap(map.into_iter().collect()))
    }
}
