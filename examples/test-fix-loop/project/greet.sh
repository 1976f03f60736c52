#!/bin/sh
# Prints a greeting: greet.sh [NAME]
name=$1
echo "Helo, $name!"
