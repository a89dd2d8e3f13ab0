#include "ebm/errors.h"

#include <cerrno>
#include <cstring>

namespace ebm {

std::string error_text(int error_number) { return std::strerror(error_number != 0 ? error_number : EIO); }

}  // namespace ebm
