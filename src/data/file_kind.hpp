#pragma once
// What kind of file a path names, checked without opening it (lstat/stat only): ingest and
// the video reader never open a FIFO (a read would block for ever), a device or a socket.
#include <optional>
#include <string>

namespace dojo::data {

// nullopt when `path` is a regular file (after following symbolic links); otherwise why
// it is not: "a FIFO (named pipe)", "a character device", "a symbolic link loop",
// "a broken symbolic link (its target does not exist)", "a folder", "does not exist", ...
std::optional<std::string> not_a_regular_file(const std::string& path);

// Opens `path` read-only without blocking (O_NONBLOCK) and confirms with fstat that it is a
// regular file, closing it again: the check after not_a_regular_file() that also catches a
// file swapped in between. nullopt when it is, else the reason.
std::optional<std::string> confirm_regular_file(const std::string& path);

}  // namespace dojo::data
