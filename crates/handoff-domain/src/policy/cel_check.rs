//! Static checks of a compiled rule condition: it may only read `handoff`, `context` and
//! `now`. A typo such as `handof.flags` would otherwise fail at every evaluation, and a
//! failing rule counts as matching; better to refuse it when the policy loads.

use cel::common::ast::{EntryExpr, Expr, IdedExpr};
use std::collections::BTreeSet;

/// The variables a rule condition may use.
pub(super) const VARIABLES: [&str; 3] = ["handoff", "context", "now"];

/// The free variables the condition reads that are not among [`VARIABLES`].
pub(super) fn unknown_variables(program: &cel::Program) -> Vec<String> {
    let mut bound = BTreeSet::new();
    bound_names(program.expression(), &mut bound);
    let mut unknown: Vec<String> = program
        .references()
        .variables()
        .into_iter()
        .filter(|v| !VARIABLES.contains(v) && !bound.contains(*v))
        .map(str::to_owned)
        .collect();
    unknown.sort();
    unknown
}

/// Names introduced by macros (`exists(f, …)`, `map(x, …)`): the comprehension variables.
fn bound_names<'a>(e: &'a IdedExpr, out: &mut BTreeSet<&'a str>) {
    match &e.expr {
        Expr::Comprehension(c) => {
            out.insert(&c.iter_var);
            out.insert(&c.accu_var);
            if let Some(v) = &c.iter_var2 {
                out.insert(v);
            }
            for sub in [&c.iter_range, &c.accu_init, &c.loop_cond, &c.loop_step, &c.result] {
                bound_names(sub, out);
            }
        }
        Expr::Call(c) => {
            if let Some(t) = &c.target {
                bound_names(t, out);
            }
            c.args.iter().for_each(|a| bound_names(a, out));
        }
        Expr::List(l) => l.elements.iter().for_each(|x| bound_names(x, out)),
        Expr::Select(s) => bound_names(&s.operand, out),
        Expr::Map(m) => m.entries.iter().for_each(|x| entry(&x.expr, out)),
        Expr::Struct(s) => s.entries.iter().for_each(|x| entry(&x.expr, out)),
        Expr::Unspecified | Expr::Ident(_) | Expr::Literal(_) => {}
    }
}

fn entry<'a>(e: &'a EntryExpr, out: &mut BTreeSet<&'a str>) {
    match e {
        EntryExpr::StructField(f) => bound_names(&f.value, out),
        EntryExpr::MapEntry(m) => {
            bound_names(&m.key, out);
            bound_names(&m.value, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unknown(src: &str) -> Vec<String> {
        let env = cel::Env::stdlib();
        match env.compile(src) {
            Ok(p) => unknown_variables(&p),
            Err(e) => vec![format!("compile error {e}")],
        }
    }

    #[test]
    fn macro_variables_are_not_unknown() {
        assert!(unknown("handoff.flags.exists(f, f == 'x')").is_empty());
        assert!(unknown("handoff.options.map(o, o).all(x, x != '')").is_empty());
        assert!(unknown("has(context.amount) && context.amount > now.getFullYear()").is_empty());
    }

    #[test]
    fn typos_are_unknown() {
        assert_eq!(unknown("handof.flags.size() > 0"), ["handof"]);
        assert_eq!(unknown("amount > 3 && handoff.flags.exists(f, f == x)"), ["amount", "x"]);
    }
}
