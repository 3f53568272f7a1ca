//! The user service: `GET /users/{id}` from its database, and a NATS consumer that counts each
//! user's orders from the order service's `orders.created` messages, under the producer's trace.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::StreamExt;
use hyperion::{Context, Counter, Telemetry, kv};
use hyperion_nats::TracedClient;
use hyperion_tower::Ctx;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::api::{self, ApiError, Handled};
use crate::db::{self, Pool};
use crate::runtime::{self, BoxError};
use crate::settings::{Faults, Settings};

/// A user as the service answers it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// The id.
    pub id: i64,
    /// The full name.
    pub name: String,
    /// The e-mail address.
    pub email: String,
    /// `gold` or `standard`.
    pub tier: String,
    /// How many orders the user placed (counted from `orders.created` messages).
    pub order_count: i64,
}

/// The message the order service publishes for each new order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderCreated {
    /// The order's id.
    pub order_id: String,
    /// Who ordered.
    pub user_id: i64,
    /// The order's value in cents.
    pub amount_cents: i64,
}

struct Users {
    pool: Pool,
    faults: Faults,
    lookups: Counter,
}

/// Runs the user service until Ctrl-C or SIGTERM.
///
/// # Errors
///
/// Its settings, telemetry, database or NATS cannot be set up, or its server fails.
pub async fn run(settings: Settings) -> Result<(), BoxError> {
    let (telemetry, module) = runtime::telemetry(&settings).await?;
    let url = settings
        .database_url
        .as_deref()
        .ok_or("user-service: DATABASE_URL is not set (the launcher sets it)")?;
    let pool = db::connect(url, &telemetry).await?;
    db::migrate_users(&pool).await?;
    let meter = telemetry.meter("user-service");
    let users = Arc::new(Users {
        pool: pool.clone(),
        faults: settings.faults,
        lookups: meter
            .counter("user.lookups")
            .description("User lookups, by outcome (found, not_found)")
            .unit("{lookup}")
            .build(),
    });
    let consumer = match &settings.nats_url {
        Some(url) => {
            let nats = connect_nats(url, &telemetry).await?;
            let counting = count_orders(&nats, settings.clone(), pool).await?;
            Some((nats, tokio::spawn(counting)))
        }
        None => None,
    };
    let routes = Router::new()
        .route("/users/{id}", get(get_user))
        .with_state(users);
    // Before the telemetry is flushed: NATS stops delivering, the messages already received are
    // counted (the loop ends with the subscription), and their spans are then exported.
    let drain = async {
        if let Some((nats, counting)) = consumer {
            if let Err(error) = nats.client().drain().await {
                eprintln!("user-service: draining NATS failed: {error}");
            }
            if tokio::time::timeout(runtime::SHUTDOWN_TIMEOUT, counting)
                .await
                .is_err()
            {
                eprintln!("user-service: order messages still being counted at shutdown");
            }
        }
    };
    runtime::serve(&settings, &telemetry, &module, routes, drain).await
}

/// Connects to NATS with tracing.
///
/// # Errors
///
/// NATS cannot be reached.
pub async fn connect_nats(url: &str, telemetry: &Telemetry) -> Result<TracedClient, BoxError> {
    let client = async_nats::connect(url)
        .await
        .map_err(|e| format!("cannot connect to NATS at {}: {e}", db::redact(url)))?;
    Ok(TracedClient::new(client, telemetry))
}

async fn get_user(
    State(users): State<Arc<Users>>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Handled<Json<User>> {
    ctx.intercept("UserService", "GetUser", |ctx| async move {
        Handled::new(&ctx, find_user(&users, &ctx, &id).await)
    })
    .await
}

async fn find_user(users: &Users, ctx: &Context, id: &str) -> Result<Json<User>, ApiError> {
    api::inject(ctx, &users.faults).await?;
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("user id {id:?} is not a number")))?;
    let row = sqlx::query("SELECT id, name, email, tier, order_count FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(users.pool.with(ctx))
        .await
        .map_err(ApiError::database)?;
    let Some(row) = row else {
        users.lookups.add(ctx, 1, &[kv("outcome", "not_found")]);
        ctx.log().info("no such user", &[kv("user.id", id)]);
        return Err(ApiError::NotFound(format!("no user {id}")));
    };
    let user = User {
        id: row.try_get("id").map_err(ApiError::database)?,
        name: row.try_get("name").map_err(ApiError::database)?,
        email: row.try_get("email").map_err(ApiError::database)?,
        tier: row.try_get("tier").map_err(ApiError::database)?,
        order_count: row.try_get("order_count").map_err(ApiError::database)?,
    };
    users.lookups.add(ctx, 1, &[kv("outcome", "found")]);
    ctx.log().info(
        "user found",
        &[kv("user.id", id), kv("user.tier", user.tier.clone())],
    );
    Ok(Json(user))
}

/// Subscribes to the order announcements (queue group `user-service`, so that replicas share
/// them) and returns the loop that counts them: each message is handled in a CONSUMER span
/// under the producer's trace.
async fn count_orders(
    nats: &TracedClient,
    settings: Settings,
    pool: Pool,
) -> Result<impl std::future::Future<Output = ()> + Send + 'static, BoxError> {
    let mut messages = nats
        .queue_subscribe(settings.orders_subject.clone(), "user-service".into())
        .await
        .map_err(|e| format!("cannot subscribe to {}: {e}", settings.orders_subject))?;
    let processor = messages.processor().clone();
    Ok(async move {
        while let Some(message) = messages.next().await {
            let (pool, payload) = (&pool, &message.payload);
            let _: Result<(), ApiError> = processor
                .process(&message, |ctx| async move {
                    ctx.intercept("UserService", "CountOrder", |ctx| async move {
                        count_order(pool, &ctx, payload).await
                    })
                    .await
                })
                .await;
        }
        eprintln!(
            "user-service: the subscription to {} has ended; no more orders are counted",
            settings.orders_subject
        );
    })
}

async fn count_order(pool: &Pool, ctx: &Context, payload: &[u8]) -> Result<(), ApiError> {
    let created: OrderCreated = serde_json::from_slice(payload)
        .map_err(|e| ApiError::BadRequest(format!("malformed order announcement: {e}")))?;
    let updated = sqlx::query("UPDATE users SET order_count = order_count + 1 WHERE id = $1")
        .bind(created.user_id)
        .execute(pool.with(ctx))
        .await
        .map_err(ApiError::database)?;
    ctx.log().info(
        "order counted",
        &[
            kv("order.id", created.order_id.clone()),
            kv("user.id", created.user_id),
            kv("rows", updated.rows_affected() as i64),
        ],
    );
    Ok(())
}
