//! The order service: `GET /orders?user_id=` lists a user's orders, `POST /orders` prices the
//! item, stores the order and its first event in one transaction, then announces it on NATS.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use hyperion::{Context, Counter, Histogram, kv};
use hyperion_nats::TracedClient;
use hyperion_tower::Ctx;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::api::{self, ApiError, Handled};
use crate::db::{self, Pool};
use crate::runtime::{self, BoxError};
use crate::settings::{Faults, Settings};
use crate::users::{OrderCreated, connect_nats};

/// An order as the service answers it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// The id, `ord-` and 16 hex digits.
    pub id: String,
    /// Who ordered.
    pub user_id: i64,
    /// What (one of the catalog's items).
    pub item: String,
    /// How many.
    pub quantity: i64,
    /// The value in cents: quantity × the item's price.
    pub amount_cents: i64,
    /// When, in milliseconds since the Unix epoch.
    pub created_at_ms: i64,
}

/// The body of `POST /orders` (the gateway's and the order service's).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrder {
    /// Who orders.
    pub user_id: i64,
    /// What: one of `book`, `pen`, `lamp`, `chair`, `mug`.
    pub item: String,
    /// How many, 1 to 100.
    pub quantity: i64,
}

impl NewOrder {
    /// Reads and checks a request body.
    ///
    /// ```
    /// use hyperion_demo::orders::NewOrder;
    ///
    /// let order = NewOrder::parse(br#"{"user_id": 7, "item": "book", "quantity": 2}"#)?;
    /// assert_eq!(order.quantity, 2);
    /// assert!(NewOrder::parse(br#"{"user_id": 7, "item": "book", "quantity": 0}"#).is_err());
    /// assert!(NewOrder::parse(b"{not json").is_err());
    /// # Ok::<(), hyperion_demo::api::ApiError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ApiError::BadRequest`] saying what is wrong.
    pub fn parse(body: &[u8]) -> Result<NewOrder, ApiError> {
        let order: NewOrder = serde_json::from_slice(body).map_err(|e| {
            ApiError::BadRequest(format!(
                "invalid order: {e} (expected {{\"user_id\": 1, \"item\": \"book\", \"quantity\": 1}})"
            ))
        })?;
        if order.user_id <= 0 {
            return Err(ApiError::BadRequest(format!(
                "invalid order: user_id must be positive, got {}",
                order.user_id
            )));
        }
        if !(1..=100).contains(&order.quantity) {
            return Err(ApiError::BadRequest(format!(
                "invalid order: quantity must be from 1 to 100, got {}",
                order.quantity
            )));
        }
        if order.item.trim().is_empty() {
            return Err(ApiError::BadRequest("invalid order: item is empty".into()));
        }
        Ok(order)
    }
}

/// `GET /orders?user_id=`.
#[derive(Deserialize)]
struct ByUser {
    user_id: i64,
}

struct Orders {
    pool: Pool,
    faults: Faults,
    nats: Option<TracedClient>,
    subject: String,
    created: Counter,
    value: Histogram,
}

/// Runs the order service until Ctrl-C or SIGTERM.
///
/// # Errors
///
/// Its settings, telemetry, database or NATS cannot be set up, or its server fails.
pub async fn run(settings: Settings) -> Result<(), BoxError> {
    let (telemetry, module) = runtime::telemetry(&settings).await?;
    let url = settings
        .database_url
        .as_deref()
        .ok_or("order-service: DATABASE_URL is not set (the launcher sets it)")?;
    let pool = db::connect(url, &telemetry).await?;
    db::migrate_orders(&pool).await?;
    let nats = match &settings.nats_url {
        Some(url) => Some(connect_nats(url, &telemetry).await?),
        None => None,
    };
    let meter = telemetry.meter("order-service");
    let orders = Arc::new(Orders {
        pool,
        faults: settings.faults,
        nats,
        subject: settings.orders_subject.clone(),
        created: meter
            .counter("orders.created")
            .description("Orders created")
            .unit("{order}")
            .build(),
        value: meter
            .histogram("orders.value")
            .description("The value of each order created, in US dollars")
            .unit("{USD}")
            .boundaries(vec![5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0])
            .build(),
    });
    let routes = Router::new()
        .route("/orders", get(list_orders).post(create_order))
        .with_state(orders.clone());
    // Before the telemetry is flushed: the announcements still queued are sent.
    let drain = async {
        if let Some(nats) = &orders.nats
            && let Err(error) = nats.client().drain().await
        {
            eprintln!("order-service: draining NATS failed: {error}");
        }
    };
    runtime::serve(&settings, &telemetry, &module, routes, drain).await
}

async fn list_orders(
    State(orders): State<Arc<Orders>>,
    Ctx(ctx): Ctx,
    Query(query): Query<ByUser>,
) -> Handled<Json<Vec<Order>>> {
    ctx.intercept("OrderService", "ListOrders", |ctx| async move {
        Handled::new(&ctx, find_orders(&orders, &ctx, query.user_id).await)
    })
    .await
}

async fn find_orders(
    orders: &Orders,
    ctx: &Context,
    user_id: i64,
) -> Result<Json<Vec<Order>>, ApiError> {
    api::inject(ctx, &orders.faults).await?;
    let rows = sqlx::query(
        "SELECT id, user_id, item, quantity, amount_cents, created_at_ms FROM orders \
         WHERE user_id = $1 ORDER BY created_at_ms DESC LIMIT 50",
    )
    .bind(user_id)
    .fetch_all(orders.pool.with(ctx))
    .await
    .map_err(ApiError::database)?;
    let list = rows
        .iter()
        .map(|row| {
            Ok(Order {
                id: row.try_get("id")?,
                user_id: row.try_get("user_id")?,
                item: row.try_get("item")?,
                quantity: row.try_get("quantity")?,
                amount_cents: row.try_get("amount_cents")?,
                created_at_ms: row.try_get("created_at_ms")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(ApiError::database)?;
    ctx.log().info(
        "orders listed",
        &[kv("user.id", user_id), kv("count", list.len() as i64)],
    );
    Ok(Json(list))
}

async fn create_order(
    State(orders): State<Arc<Orders>>,
    Ctx(ctx): Ctx,
    body: Bytes,
) -> Handled<(StatusCode, Json<Order>)> {
    ctx.intercept("OrderService", "CreateOrder", |ctx| async move {
        Handled::new(&ctx, store_order(&orders, &ctx, &body).await)
    })
    .await
}

async fn store_order(
    orders: &Orders,
    ctx: &Context,
    body: &[u8],
) -> Result<(StatusCode, Json<Order>), ApiError> {
    api::inject(ctx, &orders.faults).await?;
    let new = NewOrder::parse(body)?;
    // The price is read before the transaction, which then only writes: a SQLite transaction
    // that reads first cannot take the write lock while another writer holds it (it fails at
    // once with SQLITE_BUSY), where one that writes first waits for it.
    let price: Option<i64> = sqlx::query("SELECT price_cents FROM items WHERE name = $1")
        .bind(&new.item)
        .fetch_optional(orders.pool.with(ctx))
        .await
        .map_err(ApiError::database)?
        .map(|row| row.try_get("price_cents"))
        .transpose()
        .map_err(ApiError::database)?;
    let Some(price) = price else {
        let known: Vec<&str> = db::CATALOG.iter().map(|(name, _)| *name).collect();
        return Err(ApiError::BadRequest(format!(
            "invalid order: no item {:?} (the catalog has {})",
            new.item,
            known.join(", ")
        )));
    };
    let mut tx = orders.pool.begin(ctx).await.map_err(ApiError::database)?;
    let order = Order {
        id: format!("ord-{:016x}", rand::random::<u64>()),
        user_id: new.user_id,
        item: new.item,
        quantity: new.quantity,
        amount_cents: price * new.quantity,
        created_at_ms: now_ms(),
    };
    sqlx::query(
        "INSERT INTO orders (id, user_id, item, quantity, amount_cents, created_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&order.id)
    .bind(order.user_id)
    .bind(&order.item)
    .bind(order.quantity)
    .bind(order.amount_cents)
    .bind(order.created_at_ms)
    .execute(&mut tx)
    .await
    .map_err(ApiError::database)?;
    sqlx::query("INSERT INTO order_events (order_id, event, at_ms) VALUES ($1, $2, $3)")
        .bind(&order.id)
        .bind("created")
        .bind(order.created_at_ms)
        .execute(&mut tx)
        .await
        .map_err(ApiError::database)?;
    tx.commit().await.map_err(ApiError::database)?;

    orders
        .created
        .add(ctx, 1, &[kv("item", order.item.clone())]);
    orders
        .value
        .record(ctx, order.amount_cents as f64 / 100.0, &[]);
    ctx.log().info(
        "order created",
        &[
            kv("order.id", order.id.clone()),
            kv("user.id", order.user_id),
            kv("amount_cents", order.amount_cents),
        ],
    );
    if let Some(nats) = &orders.nats {
        let message = OrderCreated {
            order_id: order.id.clone(),
            user_id: order.user_id,
            amount_cents: order.amount_cents,
        };
        let payload = serde_json::to_vec(&message).expect("a message serializes");
        // The order is stored: a lost announcement costs a user's order count, not the order,
        // and a NATS that is reconnecting (and stops taking messages) does not hold the answer.
        let published = tokio::time::timeout(
            PUBLISH_TIMEOUT,
            nats.publish(ctx, orders.subject.clone(), payload.into()),
        )
        .await;
        let failure = match published {
            Ok(Ok(())) => None,
            Ok(Err(error)) => Some(error.to_string()),
            Err(_) => Some(format!("not queued within {PUBLISH_TIMEOUT:?}")),
        };
        if let Some(error) = failure {
            ctx.log().error(
                "order announcement failed",
                &[kv("order.id", order.id.clone()), kv("error", error)],
            );
        }
    }
    Ok((StatusCode::CREATED, Json(order)))
}

/// How long an order's announcement may wait for NATS to take it.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(1);

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
