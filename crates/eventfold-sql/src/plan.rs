//! From the parser's syntax tree to a [`Plan`]: one table, a filter, the
//! output expressions, an optional grouping with its aggregates, the order
//! and the limit. What the planner does not support is refused here, with
//! the position of the offending part where the parser recorded one.

use sqlparser::ast::{
    self as sql, Expr as SqlExpr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, LimitClause,
    ObjectNamePart, OrderByKind, SelectItem, SetExpr, Spanned, TableFactor,
};

use crate::aggregate::AggregateFunction;
use crate::error::SqlError;
use crate::expr::{BinaryOp, CastType, Expr};
use crate::functions::{ScalarFunction, parse_interval};
use crate::pushdown;
use crate::source::{ReadPlan, Table};
use crate::value::{Value, parse_timestamp};
use crate::view::Column;

#[derive(Clone, Debug)]
pub struct AggregateCall {
    pub function: AggregateFunction,
    pub argument: Option<Expr>,
    pub distinct: bool,
}

#[derive(Clone, Debug)]
pub struct Grouping {
    pub keys: Vec<Expr>,
    pub aggregates: Vec<AggregateCall>,
    pub having: Option<Expr>,
}

#[derive(Clone, Debug)]
pub enum SortKey {
    /// The `n`th output column.
    Output(usize),
    Expr(Expr),
}

#[derive(Clone, Debug)]
pub struct Ordering {
    pub key: SortKey,
    pub descending: bool,
    pub nulls_first: bool,
}

#[derive(Clone, Debug)]
pub struct Plan {
    pub read: ReadPlan,
    pub filter: Option<Expr>,
    pub columns: Vec<String>,
    pub outputs: Vec<Expr>,
    pub grouping: Option<Grouping>,
    pub order: Vec<Ordering>,
    pub limit: Option<u64>,
    pub offset: u64,
}

/// Where an expression is planned: against an event, or after grouping
/// (where a column may appear only as a grouping key or in an aggregate).
enum Scope<'a> {
    Event,
    Grouped {
        keys: &'a [Expr],
        aggregates: &'a mut Vec<AggregateCall>,
    },
    /// In a join: every column qualified by one of the two sides' aliases.
    Joined {
        aliases: [&'a str; 2],
    },
}

/// Plans `expr` over a joined pair whose sides are named `aliases` (left,
/// right): `s.data` reads the side aliased `s`.
pub(crate) fn plan_joined_expr(expr: &SqlExpr, aliases: [&str; 2]) -> Result<Expr, SqlError> {
    plan_expr(expr, &mut Scope::Joined { aliases })
}

pub fn plan_query(query: &sql::Query) -> Result<Plan, SqlError> {
    if let Some(with) = &query.with {
        return Err(SqlError::plan_at("WITH (common table expressions) is not supported yet", with.span()));
    }
    let select = match query.body.as_ref() {
        SetExpr::Select(select) => select,
        other => {
            return Err(SqlError::plan_at(
                "only a plain SELECT is supported (no UNION, VALUES or subquery)",
                other.span(),
            ));
        }
    };
    if query.fetch.is_some() || !query.locks.is_empty() {
        return Err(SqlError::plan("FETCH and locking clauses are not supported"));
    }
    if select.distinct.is_some() {
        return Err(SqlError::plan("SELECT DISTINCT is not supported; use GROUP BY"));
    }
    if select.into.is_some() {
        return Err(SqlError::plan("SELECT INTO writes a table; queries are read-only"));
    }
    if select.qualify.is_some() || !select.named_window.is_empty() || select.prewhere.is_some() {
        return Err(SqlError::plan("window clauses are not supported"));
    }
    let table = plan_table(select)?;
    let filter = select.selection.as_ref().map(|selection| plan_expr(selection, &mut Scope::Event)).transpose()?;
    let read = pushdown::read_plan(table, filter.as_ref());

    // The output columns, `*` expanded.
    let mut items: Vec<(String, &SqlExpr)> = Vec::new();
    let mut star_at = Vec::new();
    for item in &select.projection {
        match item {
            SelectItem::UnnamedExpr(expr) => items.push((output_name(expr), expr)),
            SelectItem::ExprWithAlias { expr, alias } => items.push((alias.value.clone(), expr)),
            SelectItem::Wildcard(_) => star_at.push(items.len()),
            other => return Err(SqlError::plan_at("this select item is not supported", other.span())),
        }
    }

    let group_asts = match &select.group_by {
        GroupByExpr::Expressions(expressions, modifiers) if modifiers.is_empty() => expressions.clone(),
        _ => return Err(SqlError::plan("GROUP BY ALL and GROUP BY modifiers are not supported")),
    };
    let has_aggregates = items.iter().any(|(_, expr)| contains_aggregate(expr))
        || select.having.as_ref().is_some_and(contains_aggregate)
        || order_exprs(query).iter().any(|expr| contains_aggregate(expr));
    let grouped = !group_asts.is_empty() || has_aggregates || select.having.is_some();

    let mut columns = Vec::new();
    let mut outputs = Vec::new();
    let mut grouping = None;
    if grouped {
        if !star_at.is_empty() {
            return Err(SqlError::plan("SELECT * cannot be grouped; name the columns"));
        }
        let mut keys = Vec::new();
        for key in &group_asts {
            let resolved = resolve_reference(key, &items)?;
            keys.push(plan_expr(resolved, &mut Scope::Event)?);
        }
        if keys.iter().filter(|key| crate::window::is_hop(key)).count() > 1 {
            return Err(SqlError::plan("one hop(...) window per GROUP BY"));
        }
        let mut aggregates = Vec::new();
        for (name, expr) in &items {
            columns.push(name.clone());
            outputs.push(plan_expr(expr, &mut Scope::Grouped { keys: &keys, aggregates: &mut aggregates })?);
        }
        let having = select
            .having
            .as_ref()
            .map(|having| plan_expr(having, &mut Scope::Grouped { keys: &keys, aggregates: &mut aggregates }))
            .transpose()?;
        let order = plan_order(query, &columns, &mut Scope::Grouped { keys: &keys, aggregates: &mut aggregates })?;
        grouping = Some(Grouping { keys, aggregates, having });
        let (limit, offset) = plan_limit(query)?;
        return Ok(Plan { read, filter, columns, outputs, grouping, order, limit, offset });
    }
    for (index, (name, expr)) in items.iter().enumerate() {
        if star_at.contains(&index) {
            push_star(&mut columns, &mut outputs);
        }
        columns.push(name.clone());
        outputs.push(plan_expr(expr, &mut Scope::Event)?);
    }
    if star_at.contains(&items.len()) {
        push_star(&mut columns, &mut outputs);
    }
    let order = plan_order(query, &columns, &mut Scope::Event)?;
    let (limit, offset) = plan_limit(query)?;
    Ok(Plan { read, filter, columns, outputs, grouping, order, limit, offset })
}

fn push_star(columns: &mut Vec<String>, outputs: &mut Vec<Expr>) {
    for column in Column::ALL {
        columns.push(column.name().to_owned());
        outputs.push(Expr::Column(column));
    }
}

/// A column's name, or the expression's text.
pub(crate) fn output_name(expr: &SqlExpr) -> String {
    match expr {
        SqlExpr::Identifier(ident) => ident.value.clone(),
        SqlExpr::CompoundIdentifier(parts) => parts.last().map_or_else(|| expr.to_string(), |part| part.value.clone()),
        other => other.to_string(),
    }
}

fn plan_table(select: &sql::Select) -> Result<Table, SqlError> {
    let [from] = select.from.as_slice() else {
        return Err(SqlError::plan(if select.from.is_empty() {
            "a query needs FROM events, category('…'), event_type('…') or stream('…')"
        } else {
            "a query reads one table; joins are not supported"
        }));
    };
    if let Some(join) = from.joins.first() {
        return Err(SqlError::plan_at("joins are not supported", join.span()));
    }
    plan_table_factor(&from.relation)
}

/// The table one source names: `events` or a table function.
pub(crate) fn plan_table_factor(relation: &TableFactor) -> Result<Table, SqlError> {
    let TableFactor::Table { name, args, .. } = relation else {
        return Err(SqlError::plan_at("FROM takes events or a table function, not a subquery", relation.span()));
    };
    let [ObjectNamePart::Identifier(ident)] = name.0.as_slice() else {
        return Err(SqlError::plan_at(format!("unknown table `{name}`"), name.span()));
    };
    let table_name = ident.value.to_ascii_lowercase();
    let Some(args) = args else {
        return match table_name.as_str() {
            "events" => Ok(Table::Events),
            _ => Err(SqlError::plan_at(
                format!(
                    "unknown table `{}`; the log is `events`, or category('…'), event_type('…'), stream('…')",
                    ident.value
                ),
                ident.span,
            )),
        };
    };
    let argument = match args.args.as_slice() {
        [FunctionArg::Unnamed(FunctionArgExpr::Expr(SqlExpr::Value(value)))] => match &value.value {
            sql::Value::SingleQuotedString(text) | sql::Value::DoubleQuotedString(text) => text.clone(),
            _ => return Err(SqlError::plan_at(format!("{table_name}(…) takes one text argument"), name.span())),
        },
        _ => return Err(SqlError::plan_at(format!("{table_name}(…) takes one text argument"), name.span())),
    };
    if argument.is_empty() {
        return Err(SqlError::plan_at(format!("{table_name}(…) needs a name"), name.span()));
    }
    match table_name.as_str() {
        "category" => Ok(Table::Category(argument)),
        "event_type" => Ok(Table::EventType(argument)),
        "stream" => Ok(Table::Stream(argument)),
        _ => Err(SqlError::plan_at(
            format!("unknown table function `{}`; there are category, event_type and stream", ident.value),
            ident.span,
        )),
    }
}

fn order_exprs(query: &sql::Query) -> Vec<&SqlExpr> {
    match query.order_by.as_ref().map(|order| &order.kind) {
        Some(OrderByKind::Expressions(items)) => items.iter().map(|item| &item.expr).collect(),
        _ => Vec::new(),
    }
}

/// A `GROUP BY` or `ORDER BY` item that names an output column by its alias
/// or its number (from 1) stands for that column's expression.
fn resolve_reference<'a>(expr: &'a SqlExpr, items: &[(String, &'a SqlExpr)]) -> Result<&'a SqlExpr, SqlError> {
    match expr {
        SqlExpr::Identifier(ident) if Column::named(&ident.value).is_none() => {
            Ok(items.iter().find(|(name, _)| name == &ident.value).map_or(expr, |(_, item)| *item))
        }
        SqlExpr::Value(value) => match &value.value {
            sql::Value::Number(number, _) => {
                let index: usize = number.parse().map_err(|_| SqlError::plan_at("a column number", expr.span()))?;
                index
                    .checked_sub(1)
                    .and_then(|index| items.get(index))
                    .map(|(_, item)| *item)
                    .ok_or_else(|| SqlError::plan_at(format!("there is no output column {index}"), expr.span()))
            }
            _ => Ok(expr),
        },
        _ => Ok(expr),
    }
}

fn plan_order(query: &sql::Query, columns: &[String], scope: &mut Scope<'_>) -> Result<Vec<Ordering>, SqlError> {
    let Some(order_by) = &query.order_by else { return Ok(Vec::new()) };
    let OrderByKind::Expressions(items) = &order_by.kind else {
        return Err(SqlError::plan("ORDER BY ALL is not supported"));
    };
    let mut order = Vec::new();
    for item in items {
        let descending = matches!(item.options.sort, Some(sql::OrderBySort::Desc));
        if matches!(item.options.sort, Some(sql::OrderBySort::Using(_))) {
            return Err(SqlError::plan_at("ORDER BY … USING is not supported", item.expr.span()));
        }
        // PostgreSQL: NULLs sort as larger than every value.
        let nulls_first = item.options.nulls_first.unwrap_or(descending);
        let named = match &item.expr {
            SqlExpr::Identifier(ident) => columns.iter().position(|name| name == &ident.value),
            _ => None,
        };
        let key = match (named, number_literal(&item.expr)) {
            (Some(index), _) => SortKey::Output(index),
            (None, Some(number)) => {
                let index: usize = number.parse().unwrap_or(0);
                if index == 0 || index > columns.len() {
                    return Err(SqlError::plan_at(format!("there is no output column {number}"), item.expr.span()));
                }
                SortKey::Output(index - 1)
            }
            (None, None) => SortKey::Expr(plan_expr(&item.expr, scope)?),
        };
        order.push(Ordering { key, descending, nulls_first });
    }
    Ok(order)
}

fn number_literal(expr: &SqlExpr) -> Option<&str> {
    match expr {
        SqlExpr::Value(value) => match &value.value {
            sql::Value::Number(number, _) => Some(number),
            _ => None,
        },
        _ => None,
    }
}

fn plan_limit(query: &sql::Query) -> Result<(Option<u64>, u64), SqlError> {
    let count = |expr: &SqlExpr| -> Result<u64, SqlError> {
        match plan_expr(expr, &mut Scope::Event)? {
            Expr::Literal(Value::Int(number)) if number >= 0 => Ok(number.unsigned_abs()),
            _ => Err(SqlError::plan_at("LIMIT and OFFSET take a whole number", expr.span())),
        }
    };
    match &query.limit_clause {
        None => Ok((None, 0)),
        Some(LimitClause::LimitOffset { limit, offset, limit_by }) => {
            if !limit_by.is_empty() {
                return Err(SqlError::plan("LIMIT BY is not supported"));
            }
            let limit = limit.as_ref().map(count).transpose()?;
            let offset = offset.as_ref().map(|offset| count(&offset.value)).transpose()?.unwrap_or(0);
            Ok((limit, offset))
        }
        Some(LimitClause::OffsetCommaLimit { offset, limit }) => Ok((Some(count(limit)?), count(offset)?)),
    }
}

fn contains_aggregate(expr: &SqlExpr) -> bool {
    // The syntax tree has no generic walk without the parser's `visitor`
    // feature; its text is enough to find a call of an aggregate's name,
    // and a false positive only makes the planner look closer.
    let text = expr.to_string().to_ascii_lowercase();
    ["count(", "sum(", "min(", "max(", "avg("].iter().any(|call| text.contains(call))
}

fn plan_expr(expr: &SqlExpr, scope: &mut Scope<'_>) -> Result<Expr, SqlError> {
    if let Scope::Grouped { keys, aggregates } = scope {
        if let SqlExpr::Function(function) = expr
            && let Some(aggregate) = aggregate_of(function)?
        {
            aggregates.push(aggregate);
            return Ok(Expr::Aggregate(aggregates.len() - 1));
        }
        // The whole expression is a grouping key: use the group's value.
        if let Ok(planned) = plan_expr(expr, &mut Scope::Event)
            && let Some(index) = keys.iter().position(|key| *key == planned)
        {
            return Ok(Expr::GroupKey(index));
        }
    }
    let mut plan = |expr: &SqlExpr| plan_expr(expr, scope).map(Box::new);
    let planned = match expr {
        SqlExpr::Identifier(ident) => column(&ident.value, ident.span, scope)?,
        SqlExpr::CompoundIdentifier(parts) => match parts.as_slice() {
            [table, name] => match scope {
                Scope::Joined { aliases } => side_column(table, name, *aliases)?,
                _ => column(&name.value, name.span, scope)?,
            },
            _ => return Err(SqlError::plan_at(format!("unknown column `{expr}`"), expr.span())),
        },
        SqlExpr::Value(value) => Expr::Literal(literal(&value.value, expr)?),
        SqlExpr::Nested(inner) => return plan_expr(inner, scope),
        SqlExpr::UnaryOp { op, expr: inner } => match op {
            sql::UnaryOperator::Not => Expr::Not(plan(inner)?),
            sql::UnaryOperator::Minus => match plan_expr(inner, scope)? {
                Expr::Literal(Value::Int(number)) => Expr::Literal(Value::Int(-number)),
                Expr::Literal(Value::Float(number)) => Expr::Literal(Value::Float(-number)),
                other => Expr::Negate(Box::new(other)),
            },
            sql::UnaryOperator::Plus => return plan_expr(inner, scope),
            other => return Err(SqlError::plan_at(format!("the operator {other} is not supported"), expr.span())),
        },
        SqlExpr::BinaryOp { left, op, right } => {
            let json = match op {
                sql::BinaryOperator::Arrow => Some(ScalarFunction::JsonGet),
                sql::BinaryOperator::LongArrow => Some(ScalarFunction::JsonStr),
                _ => None,
            };
            if let Some(function) = json {
                Expr::Call { function, arguments: vec![plan_expr(left, scope)?, plan_expr(right, scope)?] }
            } else {
                let op = binary_op(op)
                    .ok_or_else(|| SqlError::plan_at(format!("the operator {op} is not supported"), expr.span()))?;
                Expr::Binary { left: plan(left)?, op, right: plan(right)? }
            }
        }
        SqlExpr::IsNull(inner) => Expr::IsNull { expr: plan(inner)?, negated: false },
        SqlExpr::IsNotNull(inner) => Expr::IsNull { expr: plan(inner)?, negated: true },
        SqlExpr::IsTrue(inner) => equals_flag(plan(inner)?, true),
        SqlExpr::IsFalse(inner) => equals_flag(plan(inner)?, false),
        SqlExpr::In { expr: inner, target: sql::InTarget::List(list), negated, .. } => Expr::InList {
            expr: plan(inner)?,
            list: list.iter().map(|item| plan_expr(item, scope)).collect::<Result<_, _>>()?,
            negated: *negated,
        },
        SqlExpr::Between { expr: inner, negated, low, high } => {
            Expr::Between { expr: plan(inner)?, low: plan(low)?, high: plan(high)?, negated: *negated }
        }
        SqlExpr::Like { negated, any: false, expr: inner, pattern, escape_char: None } => {
            Expr::Like { expr: plan(inner)?, pattern: plan(pattern)?, negated: *negated, case_insensitive: false }
        }
        SqlExpr::ILike { negated, any: false, expr: inner, pattern, escape_char: None } => {
            Expr::Like { expr: plan(inner)?, pattern: plan(pattern)?, negated: *negated, case_insensitive: true }
        }
        SqlExpr::Case { operand, conditions, else_result, .. } => {
            let operand = operand.as_deref().map(|operand| plan_expr(operand, scope).map(Box::new)).transpose()?;
            let mut branches = Vec::new();
            for branch in conditions {
                branches.push((plan_expr(&branch.condition, scope)?, plan_expr(&branch.result, scope)?));
            }
            let otherwise =
                else_result.as_deref().map(|otherwise| plan_expr(otherwise, scope).map(Box::new)).transpose()?;
            Expr::Case { operand, branches, otherwise }
        }
        SqlExpr::Cast { expr: inner, data_type, format: None, .. } => {
            Expr::Cast { expr: plan(inner)?, to: cast_type(data_type, expr)? }
        }
        SqlExpr::TypedString(typed) => {
            let text = match &typed.value.value {
                sql::Value::SingleQuotedString(text) => text.clone(),
                _ => return Err(SqlError::plan_at("a typed literal takes a quoted text", expr.span())),
            };
            match cast_type(&typed.data_type, expr)? {
                CastType::Timestamp => Expr::Literal(Value::Timestamp(
                    parse_timestamp(&text).map_err(|error| SqlError::plan_at(error.to_string(), expr.span()))?,
                )),
                to => Expr::Cast { expr: Box::new(Expr::Literal(Value::Text(text))), to },
            }
        }
        SqlExpr::Interval(interval) => {
            let text = match interval.value.as_ref() {
                SqlExpr::Value(value) => match &value.value {
                    sql::Value::SingleQuotedString(text) => text.clone(),
                    sql::Value::Number(number, _) => number.clone(),
                    _ => return Err(SqlError::plan_at("INTERVAL takes a quoted length", expr.span())),
                },
                _ => return Err(SqlError::plan_at("INTERVAL takes a quoted length", expr.span())),
            };
            let text = match &interval.leading_field {
                Some(field) => format!("{text} {field}"),
                None => text,
            };
            let ticks = parse_interval(&text).map_err(|error| SqlError::plan_at(error.to_string(), expr.span()))?;
            Expr::Literal(Value::Interval(ticks))
        }
        SqlExpr::Function(function) => {
            if aggregate_of(function)?.is_some() {
                return Err(SqlError::plan_at(
                    "an aggregate is not allowed here (in WHERE, GROUP BY or inside another aggregate)",
                    expr.span(),
                ));
            }
            scalar_call(function, scope)?
        }
        other => return Err(SqlError::plan_at(format!("`{other}` is not supported"), other.span())),
    };
    Ok(planned)
}

/// Plans an expression over one event, outside a query's own planning (a
/// pattern's conditions, measures and partition keys).
pub(crate) fn plan_event_expr(expr: &SqlExpr) -> Result<Expr, SqlError> {
    plan_expr(expr, &mut Scope::Event)
}

fn equals_flag(expr: Box<Expr>, flag: bool) -> Expr {
    // `x IS TRUE` is never NULL: compare, then treat unknown as false.
    let equal = Expr::Binary { left: expr, op: BinaryOp::Eq, right: Box::new(Expr::Literal(Value::Bool(flag))) };
    Expr::Call { function: ScalarFunction::Coalesce, arguments: vec![equal, Expr::Literal(Value::Bool(false))] }
}

fn column(name: &str, span: sqlparser::tokenizer::Span, scope: &Scope<'_>) -> Result<Expr, SqlError> {
    let column = Column::named(name).ok_or_else(|| {
        SqlError::plan_at(
            format!("unknown column `{name}`; the columns are {}", Column::ALL.map(Column::name).join(", ")),
            span,
        )
    })?;
    match scope {
        Scope::Event => Ok(Expr::Column(column)),
        Scope::Grouped { .. } => {
            Err(SqlError::plan_at(format!("column `{name}` must appear in GROUP BY or be used in an aggregate"), span))
        }
        Scope::Joined { aliases: [left, _] } => Err(SqlError::plan_at(
            format!(
                "column `{name}` is on both sides of the join; qualify it with its side's alias, as in {left}.{name}"
            ),
            span,
        )),
    }
}

fn side_column(table: &sql::Ident, name: &sql::Ident, aliases: [&str; 2]) -> Result<Expr, SqlError> {
    let side = if table.value.eq_ignore_ascii_case(aliases[0]) {
        crate::expr::Side::Left
    } else if table.value.eq_ignore_ascii_case(aliases[1]) {
        crate::expr::Side::Right
    } else {
        return Err(SqlError::plan_at(
            format!("unknown table `{}`; the join's sides are {} and {}", table.value, aliases[0], aliases[1]),
            table.span,
        ));
    };
    let Expr::Column(column) = column(&name.value, name.span, &Scope::Event)? else {
        return Err(SqlError::plan_at(format!("unknown column `{}`", name.value), name.span));
    };
    Ok(Expr::SideColumn { side, column })
}

fn literal(value: &sql::Value, expr: &SqlExpr) -> Result<Value, SqlError> {
    Ok(match value {
        sql::Value::Number(text, _) => match text.parse::<i64>() {
            Ok(number) => Value::Int(number),
            Err(_) => Value::Float(
                text.parse::<f64>().map_err(|_| SqlError::plan_at(format!("`{text}` is not a number"), expr.span()))?,
            ),
        },
        sql::Value::SingleQuotedString(text)
        | sql::Value::EscapedStringLiteral(text)
        | sql::Value::UnicodeStringLiteral(text)
        | sql::Value::DoubleQuotedString(text) => Value::Text(text.clone()),
        sql::Value::DollarQuotedString(quoted) => Value::Text(quoted.value.clone()),
        sql::Value::Boolean(flag) => Value::Bool(*flag),
        sql::Value::Null => Value::Null,
        other => return Err(SqlError::plan_at(format!("the literal {other} is not supported"), expr.span())),
    })
}

pub(crate) fn binary_op(op: &sql::BinaryOperator) -> Option<BinaryOp> {
    Some(match op {
        sql::BinaryOperator::And => BinaryOp::And,
        sql::BinaryOperator::Or => BinaryOp::Or,
        sql::BinaryOperator::Eq => BinaryOp::Eq,
        sql::BinaryOperator::NotEq => BinaryOp::NotEq,
        sql::BinaryOperator::Lt => BinaryOp::Lt,
        sql::BinaryOperator::LtEq => BinaryOp::LtEq,
        sql::BinaryOperator::Gt => BinaryOp::Gt,
        sql::BinaryOperator::GtEq => BinaryOp::GtEq,
        sql::BinaryOperator::Plus => BinaryOp::Plus,
        sql::BinaryOperator::Minus => BinaryOp::Minus,
        sql::BinaryOperator::Multiply => BinaryOp::Multiply,
        sql::BinaryOperator::Divide => BinaryOp::Divide,
        sql::BinaryOperator::Modulo => BinaryOp::Modulo,
        sql::BinaryOperator::StringConcat => BinaryOp::Concat,
        _ => return None,
    })
}

fn cast_type(data_type: &sql::DataType, expr: &SqlExpr) -> Result<CastType, SqlError> {
    let name = data_type.to_string().to_ascii_lowercase();
    let word = name.split(['(', ' ']).next().unwrap_or_default();
    Ok(match word {
        "int" | "integer" | "bigint" | "smallint" | "int2" | "int4" | "int8" | "int64" => CastType::Int,
        "float" | "float4" | "float8" | "float64" | "double" | "real" | "numeric" | "decimal" => CastType::Float,
        "text" | "varchar" | "char" | "string" | "character" => CastType::Text,
        "bool" | "boolean" => CastType::Bool,
        "timestamp" | "timestamptz" => CastType::Timestamp,
        _ => return Err(SqlError::plan_at(format!("the type {data_type} is not supported"), expr.span())),
    })
}

/// The plain arguments of a call (no named arguments, no clauses).
fn call_arguments(function: &sql::Function) -> Result<Vec<&FunctionArgExpr>, SqlError> {
    let unsupported =
        || SqlError::plan_at(format!("this form of `{}` is not supported", function.name), function.span());
    if function.over.is_some() || function.filter.is_some() || !function.within_group.is_empty() {
        return Err(unsupported());
    }
    match &function.args {
        FunctionArguments::None => Ok(Vec::new()),
        FunctionArguments::Subquery(_) => Err(unsupported()),
        FunctionArguments::List(list) => {
            if !list.clauses.is_empty() {
                return Err(unsupported());
            }
            list.args
                .iter()
                .map(|argument| match argument {
                    FunctionArg::Unnamed(argument) => Ok(argument),
                    _ => Err(unsupported()),
                })
                .collect()
        }
    }
}

fn function_name(function: &sql::Function) -> String {
    match function.name.0.as_slice() {
        [ObjectNamePart::Identifier(ident)] => ident.value.to_ascii_lowercase(),
        _ => function.name.to_string().to_ascii_lowercase(),
    }
}

/// The aggregate a call is, if it is one; its argument planned on events.
fn aggregate_of(function: &sql::Function) -> Result<Option<AggregateCall>, SqlError> {
    let Some(mut aggregate) = AggregateFunction::named(&function_name(function)) else { return Ok(None) };
    let distinct = matches!(
        &function.args,
        FunctionArguments::List(list) if matches!(list.duplicate_treatment, Some(sql::DuplicateTreatment::Distinct))
    );
    let arguments = call_arguments(function)?;
    let argument = match arguments.as_slice() {
        [FunctionArgExpr::Wildcard] if aggregate == AggregateFunction::Count && !distinct => {
            aggregate = AggregateFunction::CountRows;
            None
        }
        [FunctionArgExpr::Expr(argument)] => Some(plan_expr(argument, &mut Scope::Event)?),
        _ => {
            return Err(SqlError::plan_at(format!("{} takes one argument", function.name), function.span()));
        }
    };
    Ok(Some(AggregateCall { function: aggregate, argument, distinct }))
}

fn scalar_call(function: &sql::Function, scope: &mut Scope<'_>) -> Result<Expr, SqlError> {
    let name = function_name(function);
    let scalar = ScalarFunction::named(&name).ok_or_else(|| {
        SqlError::plan_at(
            format!(
                "unknown function `{name}`; there are json_str, json_int, json_float, json_bool, lower, upper, length, \
                 starts_with, coalesce, abs, round, date_bin, date_trunc, hop, and count, sum, min, max, avg"
            ),
            function.span(),
        )
    })?;
    let arguments = call_arguments(function)?
        .into_iter()
        .map(|argument| match argument {
            FunctionArgExpr::Expr(argument) => plan_expr(argument, scope),
            _ => Err(SqlError::plan_at(format!("{name} takes no `*`"), function.span())),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (least, most) = scalar.arity();
    if arguments.len() < least || arguments.len() > most {
        let expected = if least == most { least.to_string() } else { format!("{least} to {most}") };
        return Err(SqlError::plan_at(
            format!("{name} takes {expected} arguments, not {}", arguments.len()),
            function.span(),
        ));
    }
    Ok(Expr::Call { function: scalar, arguments })
}
