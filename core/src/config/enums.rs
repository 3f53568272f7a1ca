//! The core's enumerations (`tracing.sampler`, `logging.level`) and [`config_enum!`](crate::config_enum),
//! which declares such an enumeration for a module's settings too.

use crate::log::Level;

/// Declares a fieldless enum read from and written as one of a fixed set of strings, for a
/// configuration key. Reading ignores ASCII case and surrounding white space; anything else
/// (including a number) is an error that lists the spellings. The enum gets `NAMES`, `as_str`,
/// `from_name`, `Display`, serde's `Serialize`/`Deserialize` and `Default` (mark one variant
/// `#[default]`).
///
/// ```
/// hyperion::config_enum! {
///     /// How a StatsD client sends (`metrics.transport`).
///     pub enum Transport {
///         /// UDP datagrams (`udp`). The default.
///         #[default]
///         Udp = "udp",
///         /// A Unix datagram socket (`uds`).
///         Uds = "uds",
///     }
/// }
/// assert_eq!(Transport::from_name("UDP"), Some(Transport::Udp));
/// assert_eq!(Transport::NAMES, &["udp", "uds"]);
/// assert_eq!(Transport::default().to_string(), "udp");
/// ```
#[macro_export]
macro_rules! config_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every accepted spelling, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The spelling used in YAML and environment variables.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $text, )+
                }
            }

            /// The value spelled `text` (ASCII case ignored), if there is one.
            pub fn from_name(text: &str) -> ::core::option::Option<Self> {
                $( if text.eq_ignore_ascii_case($text) { return ::core::option::Option::Some(Self::$variant); } )+
                ::core::option::Option::None
            }
        }

        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl $crate::config::__serde::Serialize for $name {
            fn serialize<S: $crate::config::__serde::Serializer>(&self, serializer: S) -> ::core::result::Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> $crate::config::__serde::Deserialize<'de> for $name {
            fn deserialize<D: $crate::config::__serde::Deserializer<'de>>(
                deserializer: D,
            ) -> ::core::result::Result<Self, D::Error> {
                struct NameVisitor;

                impl $crate::config::__serde::de::Visitor<'_> for NameVisitor {
                    type Value = $name;

                    fn expecting(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                        write!(f, "one of: {}", $name::NAMES.join(", "))
                    }

                    fn visit_str<E: $crate::config::__serde::de::Error>(
                        self,
                        text: &str,
                    ) -> ::core::result::Result<$name, E> {
                        $name::from_name(text.trim())
                            .ok_or_else(|| E::unknown_variant(text, $name::NAMES))
                    }
                }

                deserializer.deserialize_str(NameVisitor)
            }
        }
    };
}

crate::config_enum! {
    /// The span sampler (`tracing.sampler`), spelled as `OTEL_TRACES_SAMPLER` spells it.
    pub enum Sampler {
        /// Sample every trace (`always_on`).
        AlwaysOn = "always_on",
        /// Sample no trace (`always_off`).
        AlwaysOff = "always_off",
        /// Sample a fraction `sample_rate` of traces by trace id (`traceidratio`).
        TraceIdRatio = "traceidratio",
        /// Follow the parent's decision; sample every root (`parentbased_always_on`).
        ParentBasedAlwaysOn = "parentbased_always_on",
        /// Follow the parent's decision; sample no root (`parentbased_always_off`).
        ParentBasedAlwaysOff = "parentbased_always_off",
        /// Follow the parent's decision; sample a fraction `sample_rate` of roots
        /// (`parentbased_traceidratio`). The default.
        #[default]
        ParentBasedTraceIdRatio = "parentbased_traceidratio",
    }
}

crate::config_enum! {
    /// The least severe log level emitted (`logging.level`).
    pub enum LogLevel {
        /// `trace`: everything.
        Trace = "trace",
        /// `debug`.
        Debug = "debug",
        /// `info`. The default.
        #[default]
        Info = "info",
        /// `warn`.
        Warn = "warn",
        /// `error`.
        Error = "error",
        /// `fatal`: only what stops the service.
        Fatal = "fatal",
    }
}

impl From<LogLevel> for Level {
    fn from(level: LogLevel) -> Self {
        match level {
            LogLevel::Trace => Level::Trace,
            LogLevel::Debug => Level::Debug,
            LogLevel::Info => Level::Info,
            LogLevel::Warn => Level::Warn,
            LogLevel::Error => Level::Error,
            LogLevel::Fatal => Level::Fatal,
        }
    }
}
