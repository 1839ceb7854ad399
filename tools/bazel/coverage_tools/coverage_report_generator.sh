#!/bin/sh
echo "umshim: coverage reports are not generated through Bazel" >&2
exit 1
