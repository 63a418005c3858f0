"""The evaluation of the capabilities (``dancesearch eval-capabilities``): settings chosen on ``val``,
figures reported on ``test``, each section in its own module, one report (:mod:`.report`)."""
