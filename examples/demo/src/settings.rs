//! What each service reads from its environment besides its telemetry YAML: where it listens,
//! its database, NATS, the other services, and the fault knobs.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

/// One of the three services.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Service {
    /// The API gateway (`gateway`, :8080): the public routes, calling the other two.
    Gateway,
    /// The user service (`user-service`, :8081): users, and the per-user order count kept from
    /// `orders.created` messages.
    Users,
    /// The order service (`order-service`, :8082): orders, created in a transaction and
    /// announced on NATS.
    Orders,
}

impl Service {
    /// Every service, in the order the launcher starts them (the gateway last: it calls the
    /// other two).
    pub const ALL: [Service; 3] = [Service::Users, Service::Orders, Service::Gateway];

    /// The service's name: its `service.name`, its subcommand and its binary.
    pub const fn name(self) -> &'static str {
        match self {
            Service::Gateway => "gateway",
            Service::Users => "user-service",
            Service::Orders => "order-service",
        }
    }

    /// The port it listens on unless told otherwise.
    pub const fn default_port(self) -> u16 {
        match self {
            Service::Gateway => 8080,
            Service::Users => 8081,
            Service::Orders => 8082,
        }
    }

    /// Its telemetry configuration as the repository has it (`examples/demo/config/`), which
    /// the binary embeds as its default.
    pub const fn default_config(self) -> &'static str {
        match self {
            Service::Gateway => include_str!("../config/gateway.yaml"),
            Service::Users => include_str!("../config/user-service.yaml"),
            Service::Orders => include_str!("../config/order-service.yaml"),
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A variable whose value cannot be used: names the variable, the value and what is allowed.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingsError {
    /// The variable.
    pub variable: &'static str,
    /// Its value.
    pub value: String,
    /// What it may be.
    pub expected: &'static str,
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}={:?} is not valid: expected {} (from the environment)",
            self.variable, self.value, self.expected
        )
    }
}

impl std::error::Error for SettingsError {}

/// Injected trouble, so that error traces and slow-tail exemplars show up under load. Each
/// knob is read from the service's own variable first (`DEMO_ORDER_SERVICE_ERROR_RATE`,
/// `DEMO_GATEWAY_SLOW_RATE`, ...), then from the one all services share (`DEMO_ERROR_RATE`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Faults {
    /// The fraction of requests answered with an injected 500 (`DEMO_ERROR_RATE`, 0 to 1).
    pub error_rate: f64,
    /// The fraction of requests delayed by [`slow_delay`](Self::slow_delay)
    /// (`DEMO_SLOW_RATE`, 0 to 1).
    pub slow_rate: f64,
    /// How long a slow request is held (`DEMO_SLOW_MS`, milliseconds). Default: 400 ms.
    pub slow_delay: std::time::Duration,
}

/// The fault knobs.
#[derive(Clone, Copy)]
enum Knob {
    ErrorRate,
    SlowRate,
    SlowMs,
}

impl Knob {
    /// The variable of this knob for `service` alone, then the shared one.
    const fn variables(self, service: Service) -> [&'static str; 2] {
        match (self, service) {
            (Knob::ErrorRate, Service::Gateway) => ["DEMO_GATEWAY_ERROR_RATE", "DEMO_ERROR_RATE"],
            (Knob::ErrorRate, Service::Users) => {
                ["DEMO_USER_SERVICE_ERROR_RATE", "DEMO_ERROR_RATE"]
            }
            (Knob::ErrorRate, Service::Orders) => {
                ["DEMO_ORDER_SERVICE_ERROR_RATE", "DEMO_ERROR_RATE"]
            }
            (Knob::SlowRate, Service::Gateway) => ["DEMO_GATEWAY_SLOW_RATE", "DEMO_SLOW_RATE"],
            (Knob::SlowRate, Service::Users) => ["DEMO_USER_SERVICE_SLOW_RATE", "DEMO_SLOW_RATE"],
            (Knob::SlowRate, Service::Orders) => ["DEMO_ORDER_SERVICE_SLOW_RATE", "DEMO_SLOW_RATE"],
            (Knob::SlowMs, Service::Gateway) => ["DEMO_GATEWAY_SLOW_MS", "DEMO_SLOW_MS"],
            (Knob::SlowMs, Service::Users) => ["DEMO_USER_SERVICE_SLOW_MS", "DEMO_SLOW_MS"],
            (Knob::SlowMs, Service::Orders) => ["DEMO_ORDER_SERVICE_SLOW_MS", "DEMO_SLOW_MS"],
        }
    }
}

/// A service's settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Which service.
    pub service: Service,
    /// Where it listens (`DEMO_LISTEN`). Default: `127.0.0.1:` and the service's port.
    pub listen: SocketAddr,
    /// A telemetry YAML file to use instead of the embedded one (`HYPERION_CONFIG`).
    pub config_file: Option<PathBuf>,
    /// The database (`DATABASE_URL`): `sqlite:` or `postgres://`. The user and order services
    /// need one; the gateway has none.
    pub database_url: Option<String>,
    /// NATS (`NATS_URL`); without it orders are not announced and no order counts are kept.
    pub nats_url: Option<String>,
    /// The subject new orders are announced on (`DEMO_ORDERS_SUBJECT`). Default:
    /// `orders.created`.
    pub orders_subject: String,
    /// The user service's base URL (`USER_SERVICE_URL`). Default: `http://127.0.0.1:8081`.
    pub user_service_url: String,
    /// The order service's base URL (`ORDER_SERVICE_URL`). Default: `http://127.0.0.1:8082`.
    pub order_service_url: String,
    /// Injected errors and delays.
    pub faults: Faults,
}

impl Settings {
    /// Reads the service's settings from the process's environment.
    ///
    /// # Errors
    ///
    /// A [`SettingsError`] for the first variable that cannot be used.
    pub fn from_env(service: Service) -> Result<Settings, SettingsError> {
        Settings::from_vars(service, |name| std::env::var(name).ok())
    }

    /// Reads the service's settings from `var` (the environment, or a test's map). Empty values
    /// count as unset.
    ///
    /// ```
    /// use hyperion_demo::settings::{Service, Settings};
    ///
    /// let settings = Settings::from_vars(Service::Gateway, |name| {
    ///     (name == "DEMO_ERROR_RATE").then(|| "0.1".to_owned())
    /// })?;
    /// assert_eq!(settings.listen.port(), 8080);
    /// assert_eq!(settings.faults.error_rate, 0.1);
    ///
    /// // A service's own knob wins over the shared one.
    /// let settings = Settings::from_vars(Service::Orders, |name| match name {
    ///     "DEMO_ERROR_RATE" => Some("0.1".to_owned()),
    ///     "DEMO_ORDER_SERVICE_ERROR_RATE" => Some("0.5".to_owned()),
    ///     _ => None,
    /// })?;
    /// assert_eq!(settings.faults.error_rate, 0.5);
    ///
    /// let error = Settings::from_vars(Service::Gateway, |name| {
    ///     (name == "DEMO_SLOW_RATE").then(|| "often".to_owned())
    /// })
    /// .unwrap_err();
    /// assert_eq!(error.variable, "DEMO_SLOW_RATE");
    /// # Ok::<(), hyperion_demo::settings::SettingsError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A [`SettingsError`] for the first variable that cannot be used.
    pub fn from_vars(
        service: Service,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, SettingsError> {
        let var = |name: &str| var(name).filter(|value| !value.trim().is_empty());
        let listen = match var("DEMO_LISTEN") {
            Some(value) => value.trim().parse().map_err(|_| SettingsError {
                variable: "DEMO_LISTEN",
                value,
                expected: "an address and port, such as 127.0.0.1:8080 or 0.0.0.0:8080",
            })?,
            None => SocketAddr::from(([127, 0, 0, 1], service.default_port())),
        };
        // The service's own variable, else the shared one.
        let knob = |knob: Knob| {
            knob.variables(service)
                .into_iter()
                .find_map(|variable| var(variable).map(|value| (variable, value)))
        };
        let rate = |which: Knob| -> Result<f64, SettingsError> {
            let Some((variable, value)) = knob(which) else {
                return Ok(0.0);
            };
            match value.trim().parse::<f64>() {
                Ok(rate) if (0.0..=1.0).contains(&rate) => Ok(rate),
                _ => Err(SettingsError {
                    variable,
                    value,
                    expected: "a fraction from 0 to 1, such as 0.05",
                }),
            }
        };
        let slow_ms = match knob(Knob::SlowMs) {
            Some((variable, value)) => value.trim().parse::<u64>().map_err(|_| SettingsError {
                variable,
                value,
                expected: "a whole number of milliseconds",
            })?,
            None => 400,
        };
        let url = |variable: &'static str, default: u16| -> Result<String, SettingsError> {
            match var(variable) {
                Some(value) if value.starts_with("http://") || value.starts_with("https://") => {
                    Ok(value.trim_end_matches('/').to_owned())
                }
                Some(value) => Err(SettingsError {
                    variable,
                    value,
                    expected: "an http:// or https:// URL",
                }),
                None => Ok(format!("http://127.0.0.1:{default}")),
            }
        };
        Ok(Settings {
            service,
            listen,
            config_file: var("HYPERION_CONFIG").map(PathBuf::from),
            database_url: var("DATABASE_URL"),
            nats_url: var("NATS_URL"),
            orders_subject: var("DEMO_ORDERS_SUBJECT").unwrap_or_else(|| "orders.created".into()),
            user_service_url: url("USER_SERVICE_URL", Service::Users.default_port())?,
            order_service_url: url("ORDER_SERVICE_URL", Service::Orders.default_port())?,
            faults: Faults {
                error_rate: rate(Knob::ErrorRate)?,
                slow_rate: rate(Knob::SlowRate)?,
                slow_delay: std::time::Duration::from_millis(slow_ms),
            },
        })
    }
}
