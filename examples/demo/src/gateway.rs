//! The API gateway: the public routes, each answered by calling the user and order services
//! (concurrently where it can).
//!
//! | route | calls |
//! |---|---|
//! | `GET /users/{id}` | user-service `GET /users/{id}` |
//! | `GET /users/{id}/orders` | user-service `GET /users/{id}` and order-service `GET /orders?user_id=` at once |
//! | `POST /orders` | user-service `GET /users/{id}` (is there such a user?), then order-service `POST /orders` |

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use hyperion::{Context, kv};
use hyperion_reqwest::RequestBuilderExt;
use hyperion_tower::Ctx;
use reqwest_middleware::ClientWithMiddleware;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::api::{self, ApiError, Handled};
use crate::orders::{NewOrder, Order};
use crate::runtime::{self, BoxError};
use crate::settings::{Faults, Settings};
use crate::users::User;

/// `GET /users/{id}/orders`: the user and their orders.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UserOrders {
    /// The user.
    pub user: User,
    /// Their latest orders, newest first.
    pub orders: Vec<Order>,
}

struct Gateway {
    client: ClientWithMiddleware,
    users: String,
    orders: String,
    faults: Faults,
}

/// Runs the gateway until Ctrl-C or SIGTERM.
///
/// # Errors
///
/// Its settings or telemetry cannot be set up, or its server fails.
pub async fn run(settings: Settings) -> Result<(), BoxError> {
    let (telemetry, module) = runtime::telemetry(&settings).await?;
    let gateway = Arc::new(Gateway {
        client: runtime::http_client(&telemetry),
        users: settings.user_service_url.clone(),
        orders: settings.order_service_url.clone(),
        faults: settings.faults,
    });
    let routes = Router::new()
        .route("/users/{id}", get(get_user))
        .route("/users/{id}/orders", get(get_user_orders))
        .route("/orders", post(create_order))
        .with_state(gateway);
    runtime::serve(&settings, &telemetry, &module, routes, async {}).await
}

async fn get_user(
    State(gateway): State<Arc<Gateway>>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Handled<Json<User>> {
    ctx.intercept("Gateway", "GetUser", |ctx| async move {
        Handled::new(&ctx, gateway.user(&ctx, &id).await.map(Json))
    })
    .await
}

async fn get_user_orders(
    State(gateway): State<Arc<Gateway>>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Handled<Json<UserOrders>> {
    ctx.intercept("Gateway", "GetUserOrders", |ctx| async move {
        Handled::new(&ctx, gateway.user_orders(&ctx, &id).await.map(Json))
    })
    .await
}

async fn create_order(
    State(gateway): State<Arc<Gateway>>,
    Ctx(ctx): Ctx,
    body: Bytes,
) -> Handled<(StatusCode, Json<Order>)> {
    ctx.intercept("Gateway", "CreateOrder", |ctx| async move {
        Handled::new(&ctx, gateway.create_order(&ctx, &body).await)
    })
    .await
}

impl Gateway {
    async fn user(&self, ctx: &Context, id: &str) -> Result<User, ApiError> {
        api::inject(ctx, &self.faults).await?;
        let id = parse_id(id)?;
        let user = self.fetch_user(ctx, id).await?;
        ctx.log().info("user answered", &[kv("user.id", id)]);
        Ok(user)
    }

    async fn fetch_user(&self, ctx: &Context, id: i64) -> Result<User, ApiError> {
        let request = self
            .client
            .get(format!("{}/users/{id}", self.users))
            .url_template("/users/{id}")
            .context(ctx);
        call(ctx, "user-service", request).await
    }

    async fn user_orders(&self, ctx: &Context, id: &str) -> Result<UserOrders, ApiError> {
        api::inject(ctx, &self.faults).await?;
        let id = parse_id(id)?;
        let orders = self
            .client
            .get(format!("{}/orders?user_id={id}", self.orders))
            .url_template("/orders")
            .context(ctx);
        // The two calls run at once: their CLIENT spans overlap under this call's span.
        let (user, orders) = tokio::join!(
            self.fetch_user(ctx, id),
            call::<Vec<Order>>(ctx, "order-service", orders)
        );
        let (user, orders) = (user?, orders?);
        ctx.log().info(
            "user and orders answered",
            &[kv("user.id", id), kv("orders", orders.len() as i64)],
        );
        Ok(UserOrders { user, orders })
    }

    async fn create_order(
        &self,
        ctx: &Context,
        body: &[u8],
    ) -> Result<(StatusCode, Json<Order>), ApiError> {
        api::inject(ctx, &self.faults).await?;
        let new = NewOrder::parse(body)?;
        // Is there such a user? (A 404 from the user service is the answer.)
        let user = self.fetch_user(ctx, new.user_id).await?;
        ctx.log().info(
            "placing order",
            &[kv("user.id", user.id), kv("item", new.item.clone())],
        );
        let request = self
            .client
            .post(format!("{}/orders", self.orders))
            .url_template("/orders")
            .context(ctx)
            .json(&new);
        let order: Order = call(ctx, "order-service", request).await?;
        ctx.log()
            .info("order placed", &[kv("order.id", order.id.clone())]);
        Ok((StatusCode::CREATED, Json(order)))
    }
}

fn parse_id(id: &str) -> Result<i64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::BadRequest(format!("user id {id:?} is not a number")))
}

/// What a downstream error body says (the services' `ErrorBody`).
#[derive(Deserialize)]
struct DownstreamError {
    error: String,
}

/// Sends `request` to `service` and reads its JSON answer. A 404 or 400 from the service is
/// passed on as such; any other failure, or no answer at all, is a 502 naming the service.
async fn call<T: DeserializeOwned>(
    ctx: &Context,
    service: &'static str,
    request: reqwest_middleware::RequestBuilder,
) -> Result<T, ApiError> {
    let response = request.send().await.map_err(|error| {
        let what = if error.is_timeout() {
            "timed out"
        } else {
            "unreachable"
        };
        ctx.log().error(
            "downstream call failed",
            &[
                kv("downstream", service),
                kv("failure", what),
                kv("error", error.to_string()),
            ],
        );
        ApiError::Downstream {
            service,
            detail: format!("{what}: {error}"),
        }
    })?;
    let status = response.status();
    if status.is_success() {
        return response.json::<T>().await.map_err(|error| {
            ctx.log().error(
                "downstream answer unreadable",
                &[kv("downstream", service), kv("error", error.to_string())],
            );
            ApiError::Downstream {
                service,
                detail: format!("unreadable answer: {error}"),
            }
        });
    }
    let message = match response.json::<DownstreamError>().await {
        Ok(body) => body.error,
        Err(_) => format!("status {status}"),
    };
    match status {
        StatusCode::NOT_FOUND => Err(ApiError::NotFound(message)),
        StatusCode::BAD_REQUEST => Err(ApiError::BadRequest(message)),
        _ => {
            ctx.log().error(
                "downstream failed",
                &[
                    kv("downstream", service),
                    kv("http.response.status_code", i64::from(status.as_u16())),
                ],
            );
            Err(ApiError::Downstream {
                service,
                detail: format!("{status}: {message}"),
            })
        }
    }
}
