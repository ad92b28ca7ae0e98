//! SQL math functions every connection of the store has.
//!
//! The entropy view (`self_eval_entropy`, migration 2) uses `ln()`, one of
//! SQLite's optional math functions. Python's `sqlite3` and the `sqlite3`
//! shell have them; the SQLite bundled into Rust builds does not, so the
//! store adds `ln`, `sqrt` and `exp` to its connection when it opens it:
//! every Rust reader can query the metric views.

use rusqlite::functions::FunctionFlags;
use rusqlite::Connection;

/// Adds `ln(x)`, `sqrt(x)` and `exp(x)` when SQLite lacks them. NULL,
/// non-numbers and out-of-domain inputs give NULL, as SQLite's own math
/// functions do.
pub(crate) fn register_math_functions(c: &Connection) -> rusqlite::Result<()> {
    if c.query_row("SELECT ln(1.0)", [], |_| Ok(())).is_ok() {
        return Ok(());
    }
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    let unary = |name: &str, f: fn(f64) -> f64, ok: fn(f64) -> bool| {
        c.create_scalar_function(name, 1, flags, move |ctx| {
            let x: Option<f64> = ctx.get::<Option<f64>>(0).unwrap_or(None);
            Ok(x.filter(|x| ok(*x)).map(f).filter(|y| y.is_finite()))
        })
    };
    unary("ln", f64::ln, |x| x > 0.0)?;
    unary("sqrt", f64::sqrt, |x| x >= 0.0)?;
    unary("exp", f64::exp, |_| true)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::Store;

    #[test]
    fn math_functions_are_there_when_the_store_opens() {
        let store = Store::open_in_memory().unwrap();
        let (ln2, s, bad): (f64, f64, Option<f64>) = store
            .with_conn(|c| {
                c.query_row("SELECT ln(2.0), sqrt(9), ln(-1)", [], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
            })
            .unwrap();
        assert!((ln2 - 2f64.ln()).abs() < 1e-15);
        assert_eq!(s, 3.0);
        assert_eq!(bad, None);
        // Registering twice is harmless.
        store.with_conn(super::register_math_functions).unwrap();
        // The views that need ln can be read.
        store
            .with_conn(|c| {
                c.query_row("SELECT count(*) FROM variant_metrics", [], |r| {
                    r.get::<_, i64>(0)
                })
            })
            .unwrap();
    }
}
