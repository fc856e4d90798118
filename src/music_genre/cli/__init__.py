"""The `music-genre` command: maintenance tasks around the pipeline.

One module per subcommand or small group (data: reference-profile, synthetic-spec; predict;
serve: serve, fetch-model; experiments: tune, sweep, plots, report); each adds its subcommands
to the parser that music_genre.cli.main builds.
"""
