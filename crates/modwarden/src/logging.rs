//! Log output of `modwarden serve`: tracing's formatter, written to standard
//! error by [`LogSink`].
//!
//! The access log (target `modwarden::access`, one line per request) is the
//! hot part: at tens of thousands of requests per second, a `write` per line
//! cost about a quarter of the CPU of a warm `.info` request (profile in
//! bench/results/2026-11-24). So when standard error is not a terminal,
//! access lines are collected in a buffer that is written when it holds
//! [`FLUSH_AT`] bytes and at least every [`FLUSH_EVERY`] (like nginx's
//! `access_log ... buffer= flush=`). Every other line (start-up, warnings,
//! errors) is written at once, after whatever access lines were waiting, so
//! the file stays in order. On a terminal every line is written at once.

use std::fmt::{self, Write as _};
use std::io::{self, IsTerminal, Write};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::fmt::format::{self, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Access lines are written once this many bytes are waiting.
const FLUSH_AT: usize = 64 << 10;
/// ... and at least this often.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
const ACCESS_TARGET: &str = "modwarden::access";

static SINK: OnceLock<Arc<LogSink>> = OnceLock::new();

/// Sets up the global tracing subscriber (filter from `MODWARDEN_LOG`,
/// default `info`; JSON lines with `json`).
pub fn init(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MODWARDEN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let terminal = io::stderr().is_terminal();
    let sink = SINK.get_or_init(|| LogSink::stderr(!terminal)).clone();
    if !terminal {
        let s = sink.clone();
        let _ = std::thread::Builder::new()
            .name("log-flush".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(FLUSH_EVERY);
                    s.flush();
                }
            });
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(terminal)
        .with_writer(Handle(sink));
    if json {
        let _ = builder.json().try_init();
    } else {
        let fast = AccessFormat {
            other: tracing_subscriber::fmt::format().with_ansi(terminal),
        };
        let _ = builder.event_format(fast).try_init();
    }
}

/// Writes out the access lines still waiting (before the process ends).
pub fn flush() {
    if let Some(s) = SINK.get() {
        s.flush();
    }
}

/// Standard error, with a buffer for access lines.
pub struct LogSink {
    out: Out,
    /// `None`: every line is written at once.
    pending: Option<Mutex<Vec<u8>>>,
}

/// Where lines go: a duplicate of the standard error descriptor, written
/// with one `write` per line or buffer and no lock of std's (the kernel keeps
/// each write to a file whole), or std's `Stderr` where that is not possible.
enum Out {
    File(std::fs::File),
    Std,
}

impl Out {
    fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        match self {
            Out::File(f) => (&*f).write_all(buf),
            Out::Std => io::stderr().write_all(buf),
        }
    }
}

impl LogSink {
    fn stderr(buffered: bool) -> Arc<LogSink> {
        let mut out = Out::Std;
        #[cfg(unix)]
        {
            use std::os::fd::AsFd;
            if let Ok(fd) = io::stderr().as_fd().try_clone_to_owned() {
                out = Out::File(std::fs::File::from(fd));
            }
        }
        Arc::new(LogSink {
            out,
            pending: buffered.then(|| Mutex::new(Vec::with_capacity(FLUSH_AT * 2))),
        })
    }

    fn line(&self, access: bool, line: &[u8]) -> io::Result<()> {
        let Some(pending) = &self.pending else {
            return self.out.write_all(line);
        };
        let mut buf = pending.lock().unwrap_or_else(|e| e.into_inner());
        if access && buf.len() + line.len() < FLUSH_AT {
            buf.extend_from_slice(line);
            return Ok(());
        }
        buf.extend_from_slice(line);
        let r = self.out.write_all(&buf);
        buf.clear();
        r
    }

    fn flush(&self) {
        if let Some(pending) = &self.pending {
            let mut buf = pending.lock().unwrap_or_else(|e| e.into_inner());
            if !buf.is_empty() {
                let _ = self.out.write_all(&buf);
                buf.clear();
            }
        }
    }
}

/// Text lines: access lines formatted here, cheaply, with the same look as
/// tracing's default format (`<time>  INFO modwarden::access: request
/// k=v ...`); every other event by tracing's formatter. The default
/// formatter goes through `Debug` for every field and formats the whole
/// timestamp per line: about 10% of a warm `.info` request's CPU.
struct AccessFormat<F> {
    other: F,
}

impl<S, N, F> FormatEvent<S, N> for AccessFormat<F>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        if meta.target() != ACCESS_TARGET || w.has_ansi_escapes() {
            return self.other.format_event(ctx, w, event);
        }
        write_time(&mut w)?;
        write!(w, " {:>5} {}:", meta.level().as_str(), ACCESS_TARGET)?;
        let mut v = AccessVisitor {
            w: &mut w,
            r: Ok(()),
        };
        event.record(&mut v);
        v.r?;
        w.write_char('\n')
    }
}

thread_local! {
    /// The formatted date and time up to the second, and that second.
    static SECOND: std::cell::RefCell<(i64, String)> = const { std::cell::RefCell::new((i64::MIN, String::new())) };
}

/// `2026-11-24T00:52:37.377444Z`, in UTC like tracing's default timer.
fn write_time(w: &mut impl fmt::Write) -> fmt::Result {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    SECOND.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != secs {
            let t = time::OffsetDateTime::from_unix_timestamp(secs)
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
            c.1.clear();
            let _ = write!(
                c.1,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            );
            c.0 = secs;
        }
        write!(w, "{}.{:06}Z", c.1, now.subsec_micros())
    })
}

/// Writes ` message k=v k=v`: strings bare when they need no quoting.
struct AccessVisitor<'a, 'w> {
    w: &'a mut format::Writer<'w>,
    r: fmt::Result,
}

impl AccessVisitor<'_, '_> {
    /// Writes ` name=` (or just ` ` for the message); plain `write_str`
    /// calls, cheaper than `write!` per field.
    fn name(&mut self, f: &Field) -> fmt::Result {
        self.w.write_char(' ')?;
        if f.name() != "message" {
            self.w.write_str(f.name())?;
            self.w.write_char('=')?;
        }
        Ok(())
    }

    fn put(&mut self, f: &Field, value: impl FnOnce(&mut format::Writer<'_>) -> fmt::Result) {
        if self.r.is_ok() {
            self.r = self.name(f).and_then(|()| value(self.w));
        }
    }
}

/// Decimal digits of `n` without the formatting machinery.
fn write_u64(w: &mut impl fmt::Write, mut n: u64) -> fmt::Result {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    w.write_str(std::str::from_utf8(&buf[i..]).unwrap_or("?"))
}

impl Visit for AccessVisitor<'_, '_> {
    fn record_str(&mut self, f: &Field, value: &str) {
        let bare = f.name() == "message"
            || (!value.is_empty()
                && value
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\' && b != b'='));
        if bare {
            self.put(f, |w| w.write_str(value));
        } else {
            self.put(f, |w| write!(w, "{value:?}"));
        }
    }

    fn record_u64(&mut self, f: &Field, value: u64) {
        self.put(f, |w| write_u64(w, value));
    }

    fn record_i64(&mut self, f: &Field, value: i64) {
        self.put(f, |w| {
            if value < 0 {
                w.write_char('-')?;
            }
            write_u64(w, value.unsigned_abs())
        });
    }

    /// Three decimals (durations in milliseconds).
    fn record_f64(&mut self, f: &Field, value: f64) {
        if !(value.is_finite() && (0.0..1e12).contains(&value)) {
            return self.put(f, |w| write!(w, "{value}"));
        }
        let thousandths = (value * 1000.0).round() as u64;
        self.put(f, |w| {
            write_u64(w, thousandths / 1000)?;
            let frac = thousandths % 1000;
            w.write_char('.')?;
            if frac < 100 {
                w.write_char('0')?;
            }
            if frac < 10 {
                w.write_char('0')?;
            }
            write_u64(w, frac)
        });
    }

    fn record_bool(&mut self, f: &Field, value: bool) {
        self.put(f, |w| w.write_str(if value { "true" } else { "false" }));
    }

    fn record_debug(&mut self, f: &Field, value: &dyn fmt::Debug) {
        self.put(f, |w| write!(w, "{value:?}"));
    }
}

/// The writer tracing's formatter gets per event. It receives the whole
/// formatted line in one `write_all`.
struct Handle(Arc<LogSink>);

struct LineWriter<'a> {
    sink: &'a LogSink,
    access: bool,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sink.line(self.access, buf)?;
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.sink.line(self.access, buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Handle {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> LineWriter<'a> {
        LineWriter {
            sink: &self.0,
            access: false,
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> LineWriter<'a> {
        LineWriter {
            sink: &self.0,
            access: meta.target() == ACCESS_TARGET,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sink_to(path: &std::path::Path, buffered: bool) -> LogSink {
        LogSink {
            out: Out::File(std::fs::File::create(path).unwrap()),
            pending: buffered.then(|| Mutex::new(Vec::new())),
        }
    }

    #[test]
    fn access_lines_wait_other_lines_flush_them_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        let s = sink_to(&p, true);
        s.line(true, b"a1\n").unwrap();
        s.line(true, b"a2\n").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"");
        s.line(false, b"warn\n").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"a1\na2\nwarn\n");
        s.line(true, b"a3\n").unwrap();
        s.flush();
        assert_eq!(std::fs::read(&p).unwrap(), b"a1\na2\nwarn\na3\n");
    }

    #[test]
    fn a_full_buffer_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        let s = sink_to(&p, true);
        let line = vec![b'x'; 1000];
        let mut n = 0;
        while std::fs::read(&p).unwrap().is_empty() {
            s.line(true, &line).unwrap();
            n += 1;
            assert!(n <= FLUSH_AT / 1000 + 1, "buffer never written");
        }
        assert_eq!(std::fs::read(&p).unwrap().len(), n * 1000);
    }

    #[test]
    fn numbers_are_written_like_display() {
        for n in [0u64, 7, 10, 999, 1000, 123456789, u64::MAX] {
            let mut s = String::new();
            write_u64(&mut s, n).unwrap();
            assert_eq!(s, n.to_string());
        }
    }

    #[test]
    fn access_lines_look_like_the_default_format() {
        use tracing_subscriber::layer::SubscriberExt;
        let buf = Arc::new(Mutex::new(Vec::<u8>::new()));
        let b = buf.clone();
        let make = move || TestWriter(b.clone());
        let sub = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .event_format(AccessFormat {
                    other: tracing_subscriber::fmt::format().with_ansi(false),
                })
                .with_writer(make),
        );
        tracing::subscriber::with_default(sub, || {
            tracing::info!(
                target: "modwarden::access",
                request_id = "ab-1",
                path = "/example.com/m/@v/v1.0.0.info",
                module = "",
                odd = "a b\"c",
                status = 200u64,
                delta = -3i64,
                duration_ms = 0.0456,
                slow_ms = 1234.5678,
                ok = true,
                "request"
            );
            tracing::warn!(target: "modwarden::other", n = 1, "something");
        });
        let out = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
        let mut lines = out.lines();
        let access = lines.next().unwrap();
        let rest = access.split_once("Z  ").map(|x| x.1).unwrap_or("");
        assert!(
            access.len() > 27 && access.as_bytes()[10] == b'T',
            "{access}"
        );
        assert_eq!(
            rest,
            "INFO modwarden::access: request request_id=ab-1 path=/example.com/m/@v/v1.0.0.info module=\"\" odd=\"a b\\\"c\" status=200 delta=-3 duration_ms=0.046 slow_ms=1234.568 ok=true"
        );
        let other = lines.next().unwrap();
        assert!(
            other.contains("WARN modwarden::other: something n=1"),
            "{other}"
        );
    }

    struct TestWriter(Arc<Mutex<Vec<u8>>>);

    impl Write for TestWriter {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn unbuffered_lines_are_written_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        let s = sink_to(&p, false);
        s.line(true, b"a1\n").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"a1\n");
    }
}
