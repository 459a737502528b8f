//! Sign-up, sign-in, sign-out and "who am I". The first account becomes admin.

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::body::JsonBody;
use super::error::UserError;
use crate::domain::{TokenHash, UserId};
use crate::http::auth::{
    self, credential, hash_password, new_secret, session_cookie, verify_password, CurrentUser,
    SESSION_TTL,
};
use crate::http::security::origin::from_https;
use crate::http::{ApiError, Context};
use crate::store::{AuthTokenKind, NewAuthToken, StoreError, User};

/// Email and password.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct Credentials {
    email: String,
    password: String,
}

/// A user as shown to themselves.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct UserView {
    id: UserId,
    email: String,
    is_admin: bool,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id,
            email: u.email.clone(),
            is_admin: u.is_admin,
        }
    }
}

fn normalize_email(e: &str) -> Result<String, UserError> {
    let e = e.trim().to_lowercase();
    if e.is_empty() {
        return Err(UserError::field("email", "email is required"));
    }
    if e.len() > 254
        || !e.contains('@')
        || e.starts_with('@')
        || e.ends_with('@')
        || e.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(UserError::field("email", "that is not an email address"));
    }
    Ok(e)
}

async fn start_session(state: &Context, user: &User, secure: bool) -> Result<HeaderMap, ApiError> {
    let secret = new_secret("ses_")?;
    let now = state.clock().now();
    state
        .store()
        .insert_auth_token(
            NewAuthToken {
                hash: TokenHash::of(&secret),
                user: user.id,
                kind: AuthTokenKind::Session,
                name: String::new(),
                expires_at: Some(now.plus(SESSION_TTL)),
            },
            now,
        )
        .await?;
    let mut headers = HeaderMap::new();
    let cookie = session_cookie(&secret, SESSION_TTL.as_secs(), secure)
        .parse()
        .map_err(|_| ApiError::Internal("cookie header".into()))?;
    headers.insert(SET_COOKIE, cookie);
    Ok(headers)
}

#[utoipa::path(
    post,
    path = "/api/auth/signup",
    tag = "account",
    summary = "Create an account (the first one is admin) and sign in",
    request_body = Credentials,
    responses(
        (status = 201, description = "Signed up; the session cookie is set", body = UserView),
        (status = 400, description = "Bad input (`field` names the offending field)"),
        (status = 409, description = "Email already registered")
    )
)]
pub(super) async fn signup(
    State(state): State<Context>,
    request_headers: HeaderMap,
    JsonBody(body): JsonBody<Credentials>,
) -> Result<impl IntoResponse, UserError> {
    let email = normalize_email(&body.email)?;
    if email.ends_with(crate::local::SYSTEM_DOMAIN) {
        return Err(UserError::field(
            "email",
            "that email domain is reserved for the grid's own accounts",
        ));
    }
    if body.password.chars().count() < 8 || body.password.len() > 1024 {
        return Err(UserError::field(
            "password",
            "password must be 8 to 1024 characters",
        ));
    }
    let phc = hash_password(state.security().hashers(), body.password).await?;
    let user = match state
        .store()
        .create_user(&email, &phc, state.clock().now())
        .await
    {
        Ok(u) => u,
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::Conflict("email already registered").into())
        }
        Err(e) => return Err(e.into()),
    };
    let headers = start_session(&state, &user, from_https(&request_headers)).await?;
    Ok((StatusCode::CREATED, headers, Json(UserView::from(&user))))
}

#[utoipa::path(
    post,
    path = "/api/auth/login",
    tag = "account",
    summary = "Sign in",
    request_body = Credentials,
    responses(
        (status = 200, description = "Signed in; the session cookie is set", body = UserView),
        (status = 400, description = "Bad input (`field` names the offending field)"),
        (status = 401, description = "Wrong email or password")
    )
)]
pub(super) async fn login(
    State(state): State<Context>,
    request_headers: HeaderMap,
    JsonBody(body): JsonBody<Credentials>,
) -> Result<impl IntoResponse, UserError> {
    let email = normalize_email(&body.email).map_err(|_| ApiError::BadCredentials)?;
    let Some(user) = state.store().user_by_email(&email).await? else {
        // Same work as a real check, so timing does not reveal which emails exist.
        hash_password(state.security().hashers(), body.password).await?;
        return Err(ApiError::BadCredentials.into());
    };
    let hashers = state.security().hashers();
    if !verify_password(hashers, body.password, user.password_hash.clone()).await? {
        return Err(ApiError::BadCredentials.into());
    }
    let headers = start_session(&state, &user, from_https(&request_headers)).await?;
    Ok((headers, Json(UserView::from(&user))))
}

#[utoipa::path(
    post,
    path = "/api/auth/logout",
    tag = "account",
    summary = "Sign out (ends this session)",
    security(("session" = []), ("apiToken" = [])),
    responses(
        (status = 204, description = "Signed out; the cookie is cleared"),
        (status = 401, description = "Sign-in required (or the API token expired)")
    )
)]
pub(super) async fn logout(
    State(state): State<Context>,
    CurrentUser(user): CurrentUser,
    request_headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    if let Some((secret, AuthTokenKind::Session)) = credential(&request_headers) {
        state
            .store()
            .delete_auth_token(user.id, &TokenHash::of(&secret))
            .await?;
    }
    let mut headers = HeaderMap::new();
    let cookie = auth::session_cookie("", 0, from_https(&request_headers))
        .parse()
        .map_err(|_| ApiError::Internal("cookie header".into()))?;
    headers.insert(SET_COOKIE, cookie);
    Ok((StatusCode::NO_CONTENT, headers))
}

#[utoipa::path(
    get,
    path = "/api/auth/me",
    tag = "account",
    summary = "The signed-in user",
    security(("session" = []), ("apiToken" = [])),
    responses(
        (status = 200, description = "The user", body = UserView),
        (status = 401, description = "Sign-in required (or the API token expired)")
    )
)]
pub(super) async fn me(CurrentUser(user): CurrentUser) -> Json<UserView> {
    Json(UserView::from(&user))
}
