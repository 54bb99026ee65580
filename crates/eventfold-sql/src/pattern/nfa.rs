//! A `PATTERN` compiled to a program of a Pike virtual machine: `Row(v)`
//! consumes one row that satisfies variable `v`'s condition, `Split`
//! tries its first branch before its second (the pattern's preference:
//! a greedy quantifier takes one more row before it stops, an alternation
//! its left branch first), `Jump` goes on, `Match` ends a match.
//! Counted quantifiers are unrolled: `X{2,4}` is `X X (X (X)?)?`.

use crate::error::SqlError;

/// A pattern over variable numbers, as the planner reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pattern {
    Variable(usize),
    Concat(Vec<Pattern>),
    Alternation(Vec<Pattern>),
    Repeat { inner: Box<Pattern>, min: u32, max: Option<u32>, greedy: bool },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Instruction {
    Row(usize),
    Split(usize, usize),
    Jump(usize),
    Match,
}

/// The most instructions a pattern may unroll to: bounds the work per row.
pub const PROGRAM_MAX: usize = 4096;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    pub instructions: Vec<Instruction>,
}

impl Program {
    /// Compiles `pattern`, refusing one that unrolls too large or that can
    /// match no rows at all (an empty match has no row to report).
    pub fn compile(pattern: &Pattern) -> Result<Program, SqlError> {
        let mut compiler = Compiler { instructions: Vec::new() };
        compiler.emit(pattern)?;
        compiler.push(Instruction::Match)?;
        let program = Program { instructions: compiler.instructions };
        if program.matches_empty() {
            return Err(SqlError::refused_continuous(
                "the pattern can match no rows at all; give it a variable that must occur",
            ));
        }
        Ok(program)
    }

    fn matches_empty(&self) -> bool {
        let mut seen = vec![false; self.instructions.len()];
        let mut stack = vec![0];
        while let Some(pc) = stack.pop() {
            if std::mem::replace(&mut seen[pc], true) {
                continue;
            }
            match self.instructions[pc] {
                Instruction::Match => return true,
                Instruction::Row(_) => {}
                Instruction::Jump(to) => stack.push(to),
                Instruction::Split(first, second) => stack.extend([first, second]),
            }
        }
        false
    }

    /// From `pc`, follows every `Split` and `Jump` in preference order,
    /// calling `reach` with each `Row` reached (once per step: `seen`) and
    /// stopping at the first `Match`, which it reports: what would come
    /// after it is less preferred than the match.
    pub fn follow(&self, pc: usize, seen: &mut [bool], mut reach: impl FnMut(usize)) -> bool {
        let mut stack = vec![pc];
        while let Some(pc) = stack.pop() {
            let Some(slot) = seen.get_mut(pc) else { continue };
            if std::mem::replace(slot, true) {
                continue;
            }
            match self.instructions[pc] {
                Instruction::Match => return true,
                Instruction::Row(_) => reach(pc),
                Instruction::Jump(to) => stack.push(to),
                // The first branch is popped, and so explored, first.
                Instruction::Split(first, second) => stack.extend([second, first]),
            }
        }
        false
    }
}

struct Compiler {
    instructions: Vec<Instruction>,
}

impl Compiler {
    fn push(&mut self, instruction: Instruction) -> Result<usize, SqlError> {
        if self.instructions.len() >= PROGRAM_MAX {
            return Err(SqlError::refused_continuous(&format!(
                "the pattern unrolls to more than {PROGRAM_MAX} steps; use smaller counts in its quantifiers"
            )));
        }
        self.instructions.push(instruction);
        Ok(self.instructions.len() - 1)
    }

    fn patch(&mut self, at: usize, instruction: Instruction) {
        self.instructions[at] = instruction;
    }

    fn here(&self) -> usize {
        self.instructions.len()
    }

    fn emit(&mut self, pattern: &Pattern) -> Result<(), SqlError> {
        match pattern {
            Pattern::Variable(variable) => {
                self.push(Instruction::Row(*variable))?;
            }
            Pattern::Concat(parts) => {
                for part in parts {
                    self.emit(part)?;
                }
            }
            Pattern::Alternation(branches) => {
                let mut jumps_to_end = Vec::new();
                for (index, branch) in branches.iter().enumerate() {
                    if index + 1 == branches.len() {
                        self.emit(branch)?;
                    } else {
                        let split = self.push(Instruction::Jump(0))?;
                        self.emit(branch)?;
                        jumps_to_end.push(self.push(Instruction::Jump(0))?);
                        let next = self.here();
                        self.patch(split, Instruction::Split(split + 1, next));
                    }
                }
                let end = self.here();
                for jump in jumps_to_end {
                    self.patch(jump, Instruction::Jump(end));
                }
            }
            Pattern::Repeat { inner, min, max, greedy } => {
                for _ in 0..*min {
                    self.emit(inner)?;
                }
                match max {
                    None => {
                        let split = self.push(Instruction::Jump(0))?;
                        self.emit(inner)?;
                        self.push(Instruction::Jump(split))?;
                        let exit = self.here();
                        self.patch(split, choice(split + 1, exit, *greedy));
                    }
                    Some(max) => {
                        let mut splits = Vec::new();
                        for _ in *min..*max {
                            splits.push(self.push(Instruction::Jump(0))?);
                            self.emit(inner)?;
                        }
                        let exit = self.here();
                        for split in splits {
                            self.patch(split, choice(split + 1, exit, *greedy));
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// A greedy quantifier prefers another round; a reluctant one, stopping.
fn choice(again: usize, stop: usize, greedy: bool) -> Instruction {
    if greedy { Instruction::Split(again, stop) } else { Instruction::Split(stop, again) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variable(index: usize) -> Pattern {
        Pattern::Variable(index)
    }

    fn repeat(inner: Pattern, min: u32, max: Option<u32>) -> Pattern {
        Pattern::Repeat { inner: Box::new(inner), min, max, greedy: true }
    }

    #[test]
    fn counted_quantifiers_unroll() {
        let program = Program::compile(&repeat(variable(0), 2, Some(4))).expect("compile");
        let rows = program.instructions.iter().filter(|instruction| matches!(instruction, Instruction::Row(0))).count();
        assert_eq!(rows, 4);
        assert_eq!(program.instructions.last(), Some(&Instruction::Match));
    }

    #[test]
    fn empty_matches_and_huge_unrolls_are_refused() {
        assert!(Program::compile(&repeat(variable(0), 0, None)).is_err());
        assert!(Program::compile(&Pattern::Alternation(vec![variable(0), repeat(variable(1), 0, Some(1))])).is_err());
        assert!(Program::compile(&repeat(variable(0), 5000, None)).is_err());
        assert!(Program::compile(&Pattern::Concat(vec![repeat(variable(0), 0, None), variable(1)])).is_ok());
    }
}
