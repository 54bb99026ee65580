//! From a `SELECT … FROM t MATCH_RECOGNIZE (…)` to a [`PatternPlan`]: the
//! table read, the partition keys, the variables' conditions, the
//! measures, the compiled pattern, the time bound and the output columns.
//! What is not supported is refused with the reason.

use sqlparser::ast::{
    self as sql, AfterMatchSkip, Expr as SqlExpr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr,
    MatchRecognizePattern, MatchRecognizeSymbol, ObjectNamePart, RepetitionQuantifier, RowsPerMatch, SelectItem,
    SetExpr, Spanned, TableFactor, TableWithJoins, WildcardAdditionalOptions,
};

use super::matcher::{MeasureKind, MeasureSpec, Skip};
use super::nfa::{Pattern, Program};
use super::tokens;
use crate::aggregate::AggregateFunction;
use crate::error::SqlError;
use crate::expr::{BinaryOp, Expr};
use crate::plan;
use crate::source::{ReadPlan, Table};
use crate::statement;
use crate::value::Value;
use crate::view::Column;

/// A condition of `DEFINE`: an expression over the current row, with the
/// `PREV(…)` calls in it standing for values of the row before.
#[derive(Clone, Debug)]
pub enum Condition {
    Row(Expr),
    /// The `n`th `PREV` argument, evaluated on the previous row.
    Previous(usize),
    Binary {
        left: Box<Condition>,
        op: BinaryOp,
        right: Box<Condition>,
    },
    Not(Box<Condition>),
    Negate(Box<Condition>),
    IsNull {
        inner: Box<Condition>,
        negated: bool,
    },
}

/// Where an output column comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Partition(usize),
    Measure(usize),
}

#[derive(Clone, Debug)]
pub struct PatternPlan {
    /// The read an ad-hoc query makes.
    pub read: ReadPlan,
    /// Which events of `$all` are rows of the table.
    pub filter: Option<Expr>,
    pub partition_by: Vec<Expr>,
    /// Each variable's condition; `None` holds for every row.
    pub conditions: Vec<Option<Condition>>,
    /// The arguments of the `PREV` calls, evaluated on each row for the next.
    pub previous: Vec<Expr>,
    pub measures: Vec<MeasureSpec>,
    pub measure_arguments: Vec<Option<Expr>>,
    pub program: Program,
    pub within: Option<i64>,
    pub skip: Skip,
    pub columns: Vec<String>,
    pub outputs: Vec<Output>,
}

impl PatternPlan {
    /// What `EXPLAIN` answers: the read, then how rows are matched.
    pub fn explain(&self) -> Vec<String> {
        let mut lines = vec![self.read.to_string()];
        lines.push(format!(
            "partition by {} key(s); match {} variable(s) with a pattern of {} step(s); {} measure(s)",
            self.partition_by.len(),
            self.conditions.len(),
            self.program.instructions.len(),
            self.measures.len()
        ));
        lines.push(match self.within {
            Some(ticks) => format!("a match spans less than {} ms", ticks / crate::value::TICKS_PER_MILLISECOND),
            None => "no time bound: partial matches last until a row ends them".to_owned(),
        });
        lines
    }

    /// Whether a partition with nothing pending must still be kept: for
    /// the row before (`PREV`) or the count of matches (`MATCH_NUMBER()`).
    pub fn keeps_idle_partitions(&self) -> bool {
        !self.previous.is_empty() || self.measures.iter().any(|measure| measure.kind == MeasureKind::MatchNumber)
    }
}

fn refuse(reason: impl AsRef<str>) -> SqlError {
    SqlError::plan(format!("MATCH_RECOGNIZE: {}", reason.as_ref()))
}

fn refuse_at(reason: impl AsRef<str>, span: sqlparser::tokenizer::Span) -> SqlError {
    SqlError::plan_at(format!("MATCH_RECOGNIZE: {}", reason.as_ref()), span)
}

/// Whether the query reads its rows through `MATCH_RECOGNIZE`.
pub fn is_pattern(query: &sql::Query) -> bool {
    let SetExpr::Select(select) = query.body.as_ref() else { return false };
    select.from.iter().any(|from| matches!(from.relation, TableFactor::MatchRecognize { .. }))
}

/// Plans `sql`, which holds a `MATCH_RECOGNIZE`.
pub fn plan_pattern(sql: &str) -> Result<PatternPlan, SqlError> {
    let within = tokens::prepare(sql)?.within;
    let (statement::Parsed::Query(query) | statement::Parsed::Explain(query)) = statement::parse(sql)?;
    let SetExpr::Select(select) = query.body.as_ref() else {
        return Err(refuse("the pattern is read by a plain SELECT"));
    };
    if query.with.is_some() || query.order_by.is_some() || query.limit_clause.is_some() || query.fetch.is_some() {
        return Err(refuse(
            "WITH, ORDER BY, LIMIT and FETCH are not supported around a pattern; its matches come in the order they end",
        ));
    }
    if select.selection.is_some() {
        return Err(refuse(
            "WHERE is not supported around a pattern; read a narrower table (category('…'), event_type('…'), \
             stream('…')) or put the condition in DEFINE",
        ));
    }
    let grouped = !matches!(&select.group_by, GroupByExpr::Expressions(keys, modifiers) if keys.is_empty() && modifiers.is_empty());
    if grouped || select.having.is_some() || select.distinct.is_some() {
        return Err(refuse("GROUP BY, HAVING and DISTINCT are not supported around a pattern; use MEASURES"));
    }
    let [from] = select.from.as_slice() else { return Err(refuse("a pattern reads one table, with no join")) };
    if !from.joins.is_empty() {
        return Err(refuse("a pattern reads one table, with no join"));
    }
    let TableFactor::MatchRecognize {
        table,
        partition_by,
        order_by,
        measures,
        rows_per_match,
        after_match_skip,
        pattern,
        symbols,
        alias: _,
    } = &from.relation
    else {
        return Err(refuse("expected FROM … MATCH_RECOGNIZE (…)"));
    };
    let (read, filter) = plan_table(&query, select, table)?;
    check_order(order_by)?;
    if let Some(RowsPerMatch::AllRows(_)) = rows_per_match {
        return Err(refuse("ALL ROWS PER MATCH is not supported; ONE ROW PER MATCH reports each match once"));
    }
    let skip = match after_match_skip {
        None | Some(AfterMatchSkip::PastLastRow) => Skip::PastLastRow,
        Some(AfterMatchSkip::ToNextRow) => Skip::ToNextRow,
        Some(other) => {
            return Err(refuse(format!("{other} is not supported; AFTER MATCH SKIP PAST LAST ROW or TO NEXT ROW")));
        }
    };

    let mut variables: Vec<String> = Vec::new();
    let pattern = read_pattern(pattern, &mut variables)?;
    let program = Program::compile(&pattern).map_err(|error| refuse(error.to_string()))?;
    let mut conditions: Vec<Option<Condition>> = vec![None; variables.len()];
    let mut previous = Vec::new();
    for symbol in symbols {
        let name = symbol_name(&symbol.symbol);
        let Some(index) = variables.iter().position(|variable| *variable == name) else {
            return Err(refuse_at(format!("DEFINE names {name}, which PATTERN does not use"), symbol.symbol.span));
        };
        if conditions[index].is_some() {
            return Err(refuse_at(format!("{name} is defined twice"), symbol.symbol.span));
        }
        let condition = plan_condition(&symbol.definition, &mut previous)?;
        for qualifier in qualifiers(&symbol.definition) {
            if qualifier != name && variables.contains(&qualifier) {
                return Err(refuse_at(
                    format!("the condition of {name} reads {qualifier}; a condition reads the current row and PREV(…)"),
                    symbol.definition.span(),
                ));
            }
        }
        conditions[index] = Some(condition);
    }

    let mut columns = Vec::new();
    let mut named_outputs = Vec::new();
    let mut partition_keys = Vec::new();
    for (index, key) in partition_by.iter().enumerate() {
        partition_keys.push(plan::plan_event_expr(key)?);
        named_outputs.push((output_name(key), Output::Partition(index)));
    }
    let mut measure_specs = Vec::new();
    let mut measure_arguments = Vec::new();
    for (index, measure) in measures.iter().enumerate() {
        let (spec, argument) = plan_measure(&measure.expr, &variables)?;
        measure_specs.push(spec);
        measure_arguments.push(argument);
        named_outputs.push((measure.alias.value.clone(), Output::Measure(index)));
    }
    let mut outputs = Vec::new();
    for item in &select.projection {
        match item {
            SelectItem::Wildcard(_) => {
                for (name, output) in &named_outputs {
                    columns.push(name.clone());
                    outputs.push(*output);
                }
            }
            SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => {
                let name = output_name(expr);
                let Some((_, output)) =
                    named_outputs.iter().find(|(candidate, _)| candidate.eq_ignore_ascii_case(&name))
                else {
                    return Err(SqlError::plan_at(
                        format!(
                            "`{expr}` is not a column of the pattern's rows; they are {}",
                            named_outputs.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>().join(", ")
                        ),
                        expr.span(),
                    ));
                };
                columns.push(match item {
                    SelectItem::ExprWithAlias { alias, .. } => alias.value.clone(),
                    _ => name,
                });
                outputs.push(*output);
            }
            other => return Err(SqlError::plan_at("this select item is not supported", other.span())),
        }
    }
    if let Some((index, name)) =
        columns.iter().enumerate().find(|(index, name)| columns[..*index].iter().any(|earlier| earlier == *name))
    {
        return Err(refuse(format!("two columns are named {name} (column {}); rename a measure", index + 1)));
    }
    Ok(PatternPlan {
        read,
        filter,
        partition_by: partition_keys,
        conditions,
        previous,
        measures: measure_specs,
        measure_arguments,
        program,
        within,
        skip,
        columns,
        outputs,
    })
}

/// The table under the pattern, planned as `SELECT * FROM` it: its read,
/// and the same restriction as a filter on the events of `$all`.
fn plan_table(
    query: &sql::Query,
    select: &sql::Select,
    table: &TableFactor,
) -> Result<(ReadPlan, Option<Expr>), SqlError> {
    let mut inner_select = select.clone();
    inner_select.from = vec![TableWithJoins { relation: table.clone(), joins: Vec::new() }];
    inner_select.projection = vec![SelectItem::Wildcard(WildcardAdditionalOptions::default())];
    let mut inner = query.clone();
    *inner.body = SetExpr::Select(Box::new(inner_select));
    let planned = plan::plan_query(&inner)?;
    let restriction = match &planned.read.table {
        Table::Events => None,
        Table::Category(name) => Some((Column::Category, name.clone())),
        Table::EventType(name) => Some((Column::EventType, name.clone())),
        Table::Stream(name) => Some((Column::Stream, name.clone())),
    };
    let filter = restriction.map(|(column, name)| Expr::Binary {
        left: Box::new(Expr::Column(column)),
        op: BinaryOp::Eq,
        right: Box::new(Expr::Literal(Value::Text(name))),
    });
    Ok((planned.read, filter))
}

/// Log order only: the pattern runs over rows as the log appends them.
fn check_order(order_by: &[sql::OrderByExpr]) -> Result<(), SqlError> {
    for item in order_by {
        let column = match &item.expr {
            SqlExpr::Identifier(ident) => Column::named(&ident.value),
            SqlExpr::CompoundIdentifier(parts) => parts.last().and_then(|part| Column::named(&part.value)),
            _ => None,
        };
        let ascending = matches!(item.options.sort, None | Some(sql::OrderBySort::Asc));
        if !ascending || !matches!(column, Some(Column::Position | Column::Created)) {
            return Err(refuse_at(
                format!(
                    "ORDER BY {} is not supported; a pattern runs in the log's order, ORDER BY position or created \
                     (the same order)",
                    item
                ),
                item.expr.span(),
            ));
        }
    }
    Ok(())
}

fn symbol_name(ident: &sql::Ident) -> String {
    if ident.quote_style.is_some() { ident.value.clone() } else { ident.value.to_ascii_uppercase() }
}

fn read_pattern(pattern: &MatchRecognizePattern, variables: &mut Vec<String>) -> Result<Pattern, SqlError> {
    Ok(match pattern {
        MatchRecognizePattern::Symbol(MatchRecognizeSymbol::Named(ident)) => {
            let name = symbol_name(ident);
            let index = match variables.iter().position(|variable| *variable == name) {
                Some(index) => index,
                None => {
                    variables.push(name);
                    variables.len() - 1
                }
            };
            Pattern::Variable(index)
        }
        MatchRecognizePattern::Symbol(_) => {
            return Err(refuse("the anchors ^ and $ are not supported: a partition of the log never ends"));
        }
        MatchRecognizePattern::Exclude(_) | MatchRecognizePattern::Permute(_) => {
            return Err(refuse(format!("{pattern} is not supported; use concatenation, | and quantifiers")));
        }
        MatchRecognizePattern::Concat(parts) => {
            Pattern::Concat(parts.iter().map(|part| read_pattern(part, variables)).collect::<Result<_, _>>()?)
        }
        MatchRecognizePattern::Group(inner) => read_pattern(inner, variables)?,
        MatchRecognizePattern::Alternation(branches) => Pattern::Alternation(
            branches.iter().map(|branch| read_pattern(branch, variables)).collect::<Result<_, _>>()?,
        ),
        MatchRecognizePattern::Repetition(inner, quantifier) => {
            let inner = Box::new(read_pattern(inner, variables)?);
            let (quantifier, greedy) = match quantifier {
                RepetitionQuantifier::Reluctant(quantifier) => (quantifier.as_ref(), false),
                quantifier => (quantifier, true),
            };
            let (min, max) = match quantifier {
                RepetitionQuantifier::ZeroOrMore => (0, None),
                RepetitionQuantifier::OneOrMore => (1, None),
                RepetitionQuantifier::AtMostOne => (0, Some(1)),
                RepetitionQuantifier::Exactly(count) => (*count, Some(*count)),
                RepetitionQuantifier::AtLeast(count) => (*count, None),
                RepetitionQuantifier::AtMost(count) => (0, Some(*count)),
                RepetitionQuantifier::Range(least, most) if least <= most => (*least, Some(*most)),
                other => return Err(refuse(format!("the quantifier {other} is not supported"))),
            };
            Pattern::Repeat { inner, min, max, greedy }
        }
    })
}

/// The qualifiers (`F` of `F.created`) an expression's columns carry.
fn qualifiers(expr: &SqlExpr) -> Vec<String> {
    let mut found = Vec::new();
    collect_qualifiers(expr, &mut found);
    found
}

fn collect_qualifiers(expr: &SqlExpr, found: &mut Vec<String>) {
    match expr {
        SqlExpr::CompoundIdentifier(parts) if parts.len() == 2 => found.push(symbol_name(&parts[0])),
        SqlExpr::BinaryOp { left, right, .. } => {
            collect_qualifiers(left, found);
            collect_qualifiers(right, found);
        }
        SqlExpr::UnaryOp { expr, .. }
        | SqlExpr::Nested(expr)
        | SqlExpr::IsNull(expr)
        | SqlExpr::IsNotNull(expr)
        | SqlExpr::Cast { expr, .. } => collect_qualifiers(expr, found),
        SqlExpr::Function(function) => {
            if let FunctionArguments::List(list) = &function.args {
                for argument in &list.args {
                    match argument {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(inner)) => collect_qualifiers(inner, found),
                        FunctionArg::Unnamed(FunctionArgExpr::QualifiedWildcard(name)) => {
                            if let Some(ObjectNamePart::Identifier(ident)) = name.0.first() {
                                found.push(symbol_name(ident));
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        _ => {}
    }
}

fn function_name(function: &sql::Function) -> String {
    match function.name.0.as_slice() {
        [ObjectNamePart::Identifier(ident)] => ident.value.to_ascii_lowercase(),
        _ => function.name.to_string().to_ascii_lowercase(),
    }
}

fn plain_arguments(function: &sql::Function) -> Vec<&FunctionArgExpr> {
    match &function.args {
        FunctionArguments::List(list) => list
            .args
            .iter()
            .filter_map(|argument| match argument {
                FunctionArg::Unnamed(argument) => Some(argument),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The words a condition may not use: they read the match, not the row.
const MATCH_FUNCTIONS: [&str; 5] = ["first", "last", "next", "classifier", "match_number"];

fn plan_condition(expr: &SqlExpr, previous: &mut Vec<Expr>) -> Result<Condition, SqlError> {
    let text = expr.to_string().to_ascii_lowercase();
    if let Some(word) = MATCH_FUNCTIONS.iter().find(|word| text.contains(&format!("{word}("))) {
        return Err(refuse_at(
            format!(
                "{}(…) in DEFINE is not supported; a condition reads the current row and PREV(…) (bound a match in \
                 time with WITHIN)",
                word.to_ascii_uppercase()
            ),
            expr.span(),
        ));
    }
    if !text.contains("prev(") {
        return Ok(Condition::Row(plan::plan_event_expr(expr)?));
    }
    let mut plan = |inner: &SqlExpr| plan_condition(inner, previous).map(Box::new);
    Ok(match expr {
        SqlExpr::Function(function) if function_name(function) == "prev" => {
            let argument = match plain_arguments(function).as_slice() {
                [FunctionArgExpr::Expr(argument)] => plan::plan_event_expr(argument)?,
                _ => return Err(refuse_at("PREV takes one expression (the row just before)", function.span())),
            };
            previous.push(argument);
            Condition::Previous(previous.len() - 1)
        }
        SqlExpr::Nested(inner) => return plan_condition(inner, previous),
        SqlExpr::UnaryOp { op: sql::UnaryOperator::Not, expr: inner } => Condition::Not(plan(inner)?),
        SqlExpr::UnaryOp { op: sql::UnaryOperator::Minus, expr: inner } => Condition::Negate(plan(inner)?),
        SqlExpr::IsNull(inner) => Condition::IsNull { inner: plan(inner)?, negated: false },
        SqlExpr::IsNotNull(inner) => Condition::IsNull { inner: plan(inner)?, negated: true },
        SqlExpr::BinaryOp { left, op, right } => {
            let Some(op) = condition_op(op) else {
                return Err(refuse_at(format!("the operator {op} is not supported beside PREV"), expr.span()));
            };
            Condition::Binary { left: plan(left)?, op, right: plan(right)? }
        }
        other => {
            return Err(refuse_at(
                "PREV(…) is supported in comparisons, arithmetic, AND, OR, NOT and IS NULL",
                other.span(),
            ));
        }
    })
}

/// The operators a `DEFINE` condition may use: the planner's, less text
/// concatenation.
fn condition_op(op: &sql::BinaryOperator) -> Option<BinaryOp> {
    crate::plan::binary_op(op).filter(|op| *op != BinaryOp::Concat)
}

/// One measure: `FIRST`, `LAST`, `COUNT`, `SUM`, `MIN`, `MAX`, `AVG` over
/// a variable's rows (or the whole match's), or `MATCH_NUMBER()`.
fn plan_measure(expr: &SqlExpr, variables: &[String]) -> Result<(MeasureSpec, Option<Expr>), SqlError> {
    let unsupported = || {
        refuse_at(
            format!(
                "the measure `{expr}` is not supported; a measure is FIRST, LAST, COUNT, SUM, MIN, MAX or AVG over a \
                 variable's rows (FIRST(F.created), COUNT(F.*)), or MATCH_NUMBER()"
            ),
            expr.span(),
        )
    };
    let SqlExpr::Function(function) = expr else { return Err(unsupported()) };
    let name = function_name(function);
    let kind = match name.as_str() {
        "first" => MeasureKind::First,
        "last" => MeasureKind::Last,
        "match_number" => MeasureKind::MatchNumber,
        other => MeasureKind::Aggregate(AggregateFunction::named(other).ok_or_else(unsupported)?),
    };
    let arguments = plain_arguments(function);
    let variable_named = |qualifier: &str| -> Result<Option<usize>, SqlError> {
        Ok(variables.iter().position(|variable| variable == qualifier))
    };
    let mut variable = None;
    for qualifier in qualifiers(expr) {
        match variable_named(&qualifier)? {
            None => {}
            Some(index) if variable.is_none_or(|seen| seen == index) => variable = Some(index),
            Some(_) => return Err(refuse_at("a measure reads the rows of one variable", expr.span())),
        }
    }
    let (kind, argument) = match (kind, arguments.as_slice()) {
        (MeasureKind::MatchNumber, []) => (kind, None),
        (MeasureKind::Aggregate(AggregateFunction::Count), [FunctionArgExpr::Wildcard])
        | (MeasureKind::Aggregate(AggregateFunction::Count), [FunctionArgExpr::QualifiedWildcard(_)]) => {
            (MeasureKind::Aggregate(AggregateFunction::CountRows), None)
        }
        (MeasureKind::MatchNumber, _) => return Err(unsupported()),
        (_, [FunctionArgExpr::Expr(argument)]) => (kind, Some(plan::plan_event_expr(argument)?)),
        _ => return Err(unsupported()),
    };
    if matches!(&function.args, FunctionArguments::List(list) if list.duplicate_treatment.is_some()) {
        return Err(refuse_at("DISTINCT in a measure is not supported", expr.span()));
    }
    Ok((MeasureSpec { kind, variable }, argument))
}

/// A partition key's column name: the column it names, or its text.
fn output_name(expr: &SqlExpr) -> String {
    match expr {
        SqlExpr::Identifier(ident) => ident.value.clone(),
        SqlExpr::CompoundIdentifier(parts) => parts.last().map_or_else(|| expr.to_string(), |part| part.value.clone()),
        other => other.to_string(),
    }
}
