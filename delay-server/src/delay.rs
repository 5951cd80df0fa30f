//! The `/delay-me` query string: how long to wait, and how to say so.

use std::time::Duration;

/// A validated request to wait, as asked for by `?seconds=N` or `?ms=N`.
#[derive(Debug, Clone, PartialEq)]
pub struct Delay {
    /// How long the server waits before answering.
    pub duration: Duration,
    /// The number exactly as the client wrote it, echoed in the reply so that
    /// `seconds=10` reads back as `10`, not `10.0`.
    echo: String,
    unit: Unit,
    /// `bytes=N`: the reply padded (or cut) to exactly N bytes.
    pub bytes: Option<u64>,
    /// Faults to inject into this request's reply.
    pub faults: Faults,
    /// `cookie=NAME`: the reply sets a cookie of that name, for trying a
    /// client's cookie jar.
    pub cookie: Option<String>,
}

/// Faults a request asks for: `fail=P` (an error status with probability
/// P, `status=N` choosing it), `reset=P` (the connection closed without an
/// answer), `jitter=MS` (a uniform 0..MS ms more to wait).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Faults {
    pub fail: f64,
    pub status: u16,
    pub reset: f64,
    pub jitter: Duration,
}

/// Largest body `bytes=N` may ask for: 1 GiB.
pub const MAX_BODY_BYTES: u64 = 1 << 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Seconds,
    Millis,
}

impl Unit {
    fn parameter(self) -> &'static str {
        match self {
            Unit::Seconds => "seconds",
            Unit::Millis => "ms",
        }
    }
}

/// Why a query string was refused; each message names the parameter at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DelayError {
    #[error("missing parameter: give `seconds` (e.g. ?seconds=2) or `ms` (e.g. ?ms=250)")]
    Missing,
    #[error("parameters `seconds` and `ms` are both given: use one")]
    Both,
    #[error("parameter `{parameter}` is given more than once")]
    Repeated { parameter: &'static str },
    #[error("parameter `{parameter}`: {value:?} is not a number")]
    NotANumber {
        parameter: &'static str,
        value: String,
    },
    #[error("parameter `{parameter}`: {value:?} is not a finite number")]
    NotFinite {
        parameter: &'static str,
        value: String,
    },
    #[error("parameter `{parameter}`: {value} is negative; a delay is 0 or more")]
    Negative {
        parameter: &'static str,
        value: String,
    },
    #[error("parameter `bytes`: {value:?} is not a whole number of bytes up to {MAX_BODY_BYTES}")]
    BadSize { value: String },
    #[error("parameter `{parameter}`: {value:?} is not a probability from 0 to 1")]
    BadProbability {
        parameter: &'static str,
        value: String,
    },
    #[error(
        "parameter `cookie`: {value:?} is not a cookie name (1 to 64 letters, digits, `-` or `_`)"
    )]
    BadCookie { value: String },
    #[error("parameter `status`: {value:?} is not an error status from 400 to 599")]
    BadStatus { value: String },
    #[error(
        "parameter `status` chooses the status of `fail`: give `fail` too (e.g. fail=0.1&status=503)"
    )]
    StatusWithoutFail,
    #[error(
        "parameter `jitter`: {value:?} is not a number of milliseconds from 0 to this server's --max-delay"
    )]
    BadJitter { value: String },
    #[error("parameter `{parameter}`: {value} exceeds this server's --max-delay of {max}")]
    TooLong {
        parameter: &'static str,
        value: String,
        max: String,
    },
    #[error(
        "parameter `jitter`: {delay} plus up to {jitter} ms of jitter could exceed this server's --max-delay of {max}"
    )]
    JitterPastMax {
        delay: String,
        jitter: String,
        max: String,
    },
}

impl Delay {
    /// Parses the query string of `/delay-me` (`None` when there is none),
    /// refusing anything above `max`.
    pub fn from_query(query: Option<&str>, max: Duration) -> Result<Self, DelayError> {
        let mut seconds = None;
        let mut millis = None;
        let mut bytes = None;
        let mut cookie = None;
        let mut faults = Faults {
            status: 500,
            ..Faults::default()
        };
        let mut status_given = false;
        let mut fail_given = false;
        // (No allocation for what most requests ask: a delay alone.)
        let mut seen_fault: Vec<&'static str> = Vec::new();
        let mut jitter_text: Option<String> = None;
        for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            if matches!(key.as_ref(), "fail" | "reset" | "status" | "jitter") {
                let parameter: &'static str = match key.as_ref() {
                    "fail" => "fail",
                    "reset" => "reset",
                    "status" => "status",
                    _ => "jitter",
                };
                if seen_fault.contains(&parameter) {
                    return Err(DelayError::Repeated { parameter });
                }
                seen_fault.push(parameter);
                let raw = value.trim();
                match parameter {
                    "fail" | "reset" => {
                        let p = raw
                            .parse::<f64>()
                            .ok()
                            .filter(|p| (0.0..=1.0).contains(p))
                            .ok_or_else(|| DelayError::BadProbability {
                                parameter,
                                value: raw.to_owned(),
                            })?;
                        if parameter == "fail" {
                            faults.fail = p;
                            fail_given = true;
                        } else {
                            faults.reset = p;
                        }
                    }
                    "status" => {
                        faults.status = raw
                            .parse::<u16>()
                            .ok()
                            .filter(|s| (400..=599).contains(s))
                            .ok_or_else(|| DelayError::BadStatus {
                                value: raw.to_owned(),
                            })?;
                        status_given = true;
                    }
                    _ => {
                        jitter_text = Some(raw.to_owned());
                        faults.jitter = raw
                            .parse::<f64>()
                            .ok()
                            .filter(|ms| ms.is_finite() && *ms >= 0.0)
                            .and_then(|ms| Duration::try_from_secs_f64(ms / 1e3).ok())
                            .filter(|jitter| *jitter <= max)
                            .ok_or_else(|| DelayError::BadJitter {
                                value: raw.to_owned(),
                            })?;
                    }
                }
                continue;
            }
            let (slot, unit) = match key.as_ref() {
                "seconds" => (&mut seconds, Unit::Seconds),
                "ms" => (&mut millis, Unit::Millis),
                "bytes" => {
                    if bytes.is_some() {
                        return Err(DelayError::Repeated { parameter: "bytes" });
                    }
                    let size = value
                        .trim()
                        .parse::<u64>()
                        .ok()
                        .filter(|&n| n <= MAX_BODY_BYTES)
                        .ok_or_else(|| DelayError::BadSize {
                            value: value.clone().into_owned(),
                        })?;
                    bytes = Some(size);
                    continue;
                }
                "cookie" => {
                    if cookie.is_some() {
                        return Err(DelayError::Repeated {
                            parameter: "cookie",
                        });
                    }
                    let name = value.trim();
                    let valid = (1..=64).contains(&name.len())
                        && name
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                    if !valid {
                        return Err(DelayError::BadCookie {
                            value: value.clone().into_owned(),
                        });
                    }
                    cookie = Some(name.to_owned());
                    continue;
                }
                _ => continue,
            };
            if slot.is_some() {
                return Err(DelayError::Repeated {
                    parameter: unit.parameter(),
                });
            }
            *slot = Some((value, unit));
        }
        if status_given && !fail_given {
            return Err(DelayError::StatusWithoutFail);
        }
        let (raw, unit) = match (seconds, millis) {
            (Some(_), Some(_)) => return Err(DelayError::Both),
            (None, None) => return Err(DelayError::Missing),
            (Some(s), None) | (None, Some(s)) => s,
        };
        let parameter = unit.parameter();
        let echo = raw.trim().to_owned();
        let number: f64 = echo.parse().map_err(|_| DelayError::NotANumber {
            parameter,
            value: raw.clone().into_owned(),
        })?;
        if !number.is_finite() {
            return Err(DelayError::NotFinite {
                parameter,
                value: raw.into_owned(),
            });
        }
        if number.is_sign_negative() {
            return Err(DelayError::Negative {
                parameter,
                value: echo,
            });
        }
        let secs = match unit {
            Unit::Seconds => number,
            Unit::Millis => number / 1000.0,
        };
        let too_long = || DelayError::TooLong {
            parameter,
            value: echo.clone(),
            max: humantime::format_duration(max).to_string(),
        };
        let duration = Duration::try_from_secs_f64(secs).map_err(|_| too_long())?;
        if duration > max {
            return Err(too_long());
        }
        if duration.checked_add(faults.jitter).is_none_or(|d| d > max) {
            return Err(DelayError::JitterPastMax {
                delay: format!("{parameter}={echo}"),
                jitter: jitter_text.unwrap_or_else(|| "0".to_owned()),
                max: humantime::format_duration(max).to_string(),
            });
        }
        Ok(Delay {
            duration,
            echo,
            unit,
            bytes,
            faults,
            cookie,
        })
    }

    /// The `Set-Cookie` of the reply, when `cookie=NAME` asked for one: the
    /// value says what was waited for.
    pub fn set_cookie(&self) -> Option<String> {
        let name = self.cookie.as_ref()?;
        Some(format!(
            "{name}=waited-{}{}; Path=/",
            self.echo,
            match self.unit {
                Unit::Seconds => "s",
                Unit::Millis => "ms",
            }
        ))
    }

    /// The reply body, word for word what the original slow Django view
    /// answered, so that clients written against it work unchanged.
    pub fn reply(&self) -> String {
        match self.unit {
            Unit::Seconds => format!("Done, I waited for {} secs", self.echo),
            Unit::Millis => format!("Done, I waited for {} ms", self.echo),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: Duration = Duration::from_secs(300);

    #[test]
    fn a_cookie_is_asked_for_by_name_and_set_with_what_was_waited() {
        let d = parse("ms=250&cookie=session").unwrap();
        assert_eq!(
            d.set_cookie().as_deref(),
            Some("session=waited-250ms; Path=/")
        );
        assert_eq!(parse("seconds=1").unwrap().set_cookie(), None);
        for bad in ["ms=1&cookie=", "ms=1&cookie=a;b", "ms=1&cookie=a%20b"] {
            let error = parse(bad).unwrap_err();
            assert!(
                matches!(error, DelayError::BadCookie { .. }),
                "{bad}: {error}"
            );
            assert!(error.to_string().contains("parameter `cookie`"), "{error}");
        }
        assert_eq!(
            parse("ms=1&cookie=a&cookie=b").unwrap_err(),
            DelayError::Repeated {
                parameter: "cookie"
            }
        );
    }

    fn parse(q: &str) -> Result<Delay, DelayError> {
        Delay::from_query(Some(q), MAX)
    }

    #[test]
    fn whole_seconds_are_echoed_as_given() {
        let d = parse("seconds=10").unwrap();
        assert_eq!(d.duration, Duration::from_secs(10));
        assert_eq!(d.reply(), "Done, I waited for 10 secs");
    }

    #[test]
    fn decimal_seconds_and_millis_are_understood() {
        assert_eq!(
            parse("seconds=0.25").unwrap().duration,
            Duration::from_millis(250)
        );
        assert_eq!(
            parse("seconds=0.25").unwrap().reply(),
            "Done, I waited for 0.25 secs"
        );
        let ms = parse("ms=300").unwrap();
        assert_eq!(ms.duration, Duration::from_millis(300));
        assert_eq!(ms.reply(), "Done, I waited for 300 ms");
        assert_eq!(parse("seconds=0").unwrap().duration, Duration::ZERO);
    }

    #[test]
    fn bytes_sets_the_body_size() {
        assert_eq!(parse("ms=1&bytes=5000").unwrap().bytes, Some(5000));
        assert_eq!(parse("ms=1").unwrap().bytes, None);
    }

    #[test]
    fn faults_are_parsed_and_bad_ones_name_their_parameter() {
        let f = parse("ms=1&fail=0.25&status=503&reset=0.5&jitter=20")
            .unwrap()
            .faults;
        assert_eq!(
            f,
            Faults {
                fail: 0.25,
                status: 503,
                reset: 0.5,
                jitter: Duration::from_millis(20)
            }
        );
        assert_eq!(parse("ms=1&fail=1").unwrap().faults.status, 500);
        assert_eq!(
            parse("ms=1").unwrap().faults,
            Faults {
                status: 500,
                ..Faults::default()
            }
        );
        for (q, want) in [
            ("ms=1&fail=1.5", "`fail`: \"1.5\" is not a probability"),
            ("ms=1&fail=-0.1", "`fail`: \"-0.1\" is not a probability"),
            ("ms=1&fail=NaN", "`fail`: \"NaN\" is not a probability"),
            ("ms=1&reset=x", "`reset`: \"x\" is not a probability"),
            (
                "ms=1&fail=0.1&status=200",
                "`status`: \"200\" is not an error status",
            ),
            (
                "ms=1&fail=0.1&status=600",
                "`status`: \"600\" is not an error status",
            ),
            ("ms=1&status=503", "`status` chooses the status of `fail`"),
            (
                "ms=1&jitter=-5",
                "`jitter`: \"-5\" is not a number of milliseconds",
            ),
            ("ms=1&jitter=inf", "`jitter`: \"inf\""),
            ("ms=1&jitter=400000", "`jitter`: \"400000\""),
            (
                "ms=299999&jitter=4.9",
                "`jitter`: ms=299999 plus up to 4.9 ms of jitter could exceed",
            ),
            (
                "seconds=300&jitter=1",
                "`jitter`: seconds=300 plus up to 1 ms of jitter could exceed this server's --max-delay of 5m",
            ),
            ("ms=1&fail=0.1&fail=0.2", "`fail` is given more than once"),
        ] {
            let error = parse(q).unwrap_err().to_string();
            assert!(error.contains(want), "{q}: {error}");
        }
    }

    #[test]
    fn other_parameters_are_ignored() {
        assert_eq!(
            parse("x=1&seconds=2").unwrap().duration,
            Duration::from_secs(2)
        );
    }

    #[test]
    fn every_bad_input_names_its_parameter() {
        assert_eq!(Delay::from_query(None, MAX), Err(DelayError::Missing));
        assert_eq!(parse(""), Err(DelayError::Missing));
        assert_eq!(parse("seconds=1&ms=5"), Err(DelayError::Both));
        assert!(matches!(
            parse("seconds=1&seconds=2"),
            Err(DelayError::Repeated { .. })
        ));
        for (q, want) in [
            ("seconds=abc", "`seconds`: \"abc\" is not a number"),
            ("seconds=", "`seconds`: \"\" is not a number"),
            ("ms=-5", "`ms`: -5 is negative"),
            ("seconds=-0", "`seconds`: -0 is negative"),
            ("seconds=NaN", "`seconds`: \"NaN\" is not a finite number"),
            ("seconds=inf", "`seconds`: \"inf\" is not a finite number"),
            (
                "seconds=301",
                "`seconds`: 301 exceeds this server's --max-delay of 5m",
            ),
            ("ms=300001", "`ms`: 300001 exceeds"),
            ("ms=1&bytes=-1", "`bytes`: \"-1\" is not a whole number"),
            ("ms=1&bytes=2x", "`bytes`: \"2x\" is not a whole number"),
            (
                "ms=1&bytes=1073741825",
                "`bytes`: \"1073741825\" is not a whole number",
            ),
            ("ms=1&bytes=1&bytes=2", "`bytes` is given more than once"),
            ("seconds=1e300", "`seconds`: 1e300 exceeds"),
        ] {
            let message = parse(q).unwrap_err().to_string();
            assert!(message.contains(want), "{q}: {message}");
        }
    }
}
