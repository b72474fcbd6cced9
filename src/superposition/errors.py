"""Errors the library raises on purpose: each carries a one-line message that names the problem."""


class SuperpositionError(ValueError):
    """Base class: bad input or a state we refuse to continue from. The CLI prints it as one line, exit 2."""


class ConfigError(SuperpositionError):
    """A configuration value is out of range, of the wrong kind, or inconsistent with another."""


class RunDirError(SuperpositionError):
    """A run directory is missing, incomplete or corrupt."""


class OutputError(SuperpositionError):
    """An output path cannot or must not be written (it exists, is not ours, is not writable)."""


class DivergenceError(SuperpositionError):
    """Training produced a non-finite loss."""

    def __init__(self, instance: int, step: int, first_step: int, value: float):
        self.instance, self.step, self.first_step, self.value = instance, step, first_step, value
        super().__init__(
            f"training diverged: instance {instance} has a non-finite loss ({value}) at step {step} "
            f"(first seen in steps {first_step}..{step}); lower the learning rate or check the data"
        )
