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

/// What the rule conditions read, so that evaluation converts only that into CEL values:
/// converting the whole packet costs more than evaluating a hundred rules.
#[derive(Debug, Clone, Default)]
pub(super) struct Needs {
    /// `handoff` used whole (`handoff == x`, passed to a function): every field is built.
    pub all: bool,
    /// The `handoff.FIELD` names read.
    pub fields: BTreeSet<String>,
    pub context: bool,
    pub now: bool,
}

impl Needs {
    pub fn field(&self, name: &str) -> bool {
        self.all || self.fields.contains(name)
    }

    pub fn add(&mut self, program: &cel::Program) {
        self.walk(program.expression());
    }

    fn walk(&mut self, e: &IdedExpr) {
        match &e.expr {
            Expr::Select(s) if matches!(&s.operand.expr, Expr::Ident(n) if n == "handoff") => {
                self.fields.insert(s.field.clone());
            }
            Expr::Ident(n) => match n.as_str() {
                "handoff" => self.all = true,
                "context" => self.context = true,
                "now" => self.now = true,
                _ => {}
            },
            _ => children(e, &mut |c| self.walk(c)),
        }
    }
}

/// Calls `f` on each direct sub-expression.
fn children<'a>(e: &'a IdedExpr, f: &mut impl FnMut(&'a IdedExpr)) {
    match &e.expr {
        Expr::Comprehension(c) => {
            for sub in [
                &c.iter_range,
                &c.accu_init,
                &c.loop_cond,
                &c.loop_step,
                &c.result,
            ] {
                f(sub);
            }
        }
        Expr::Call(c) => {
            if let Some(t) = &c.target {
                f(t);
            }
            c.args.iter().for_each(&mut *f);
        }
        Expr::List(l) => l.elements.iter().for_each(&mut *f),
        Expr::Select(s) => f(&s.operand),
        Expr::Map(m) => m.entries.iter().for_each(|x| entry(&x.expr, f)),
        Expr::Struct(s) => s.entries.iter().for_each(|x| entry(&x.expr, f)),
        Expr::Unspecified | Expr::Ident(_) | Expr::Literal(_) => {}
    }
}

fn entry<'a>(e: &'a EntryExpr, f: &mut impl FnMut(&'a IdedExpr)) {
    match e {
        EntryExpr::StructField(x) => f(&x.value),
        EntryExpr::MapEntry(m) => {
            f(&m.key);
            f(&m.value);
        }
    }
}

/// Names introduced by macros (`exists(f, …)`, `map(x, …)`): the comprehension variables.
fn bound_names<'a>(e: &'a IdedExpr, out: &mut BTreeSet<&'a str>) {
    if let Expr::Comprehension(c) = &e.expr {
        out.insert(&c.iter_var);
        out.insert(&c.accu_var);
        if let Some(v) = &c.iter_var2 {
            out.insert(v);
        }
    }
    children(e, &mut |c| bound_names(c, out));
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
    fn needs_name_the_fields_read() {
        let mut n = Needs::default();
        for src in [
            "'x' in handoff.flags && context.a > 1",
            "has(handoff.rubric.impact)",
        ] {
            if let Ok(p) = cel::Env::stdlib().compile(src) {
                n.add(&p);
            }
        }
        assert!(!n.all && n.context && !n.now);
        assert_eq!(n.fields.iter().collect::<Vec<_>>(), ["flags", "rubric"]);
        if let Ok(p) = cel::Env::stdlib().compile("size(handoff) > 0 && now > now") {
            n.add(&p);
        }
        assert!(n.all && n.now && n.field("summary"));
    }

    #[test]
    fn typos_are_unknown() {
        assert_eq!(unknown("handof.flags.size() > 0"), ["handof"]);
        assert_eq!(
            unknown("amount > 3 && handoff.flags.exists(f, f == x)"),
            ["amount", "x"]
        );
    }
}
