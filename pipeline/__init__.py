"""DVC stage entry points: one module per stage, named as in ``dvc.yaml``.

Each module reads paths from its command line and params from ``params.yaml``,
calls the ``mmpo`` library, and writes its outputs and a metrics JSON. The
same modules back the ``mmpo <stage>`` subcommands.
"""
