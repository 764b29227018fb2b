package leviathan.server;

/**
 * A request that ends in an HTTP error, answered in OpenAI's error shape
 * {@code {"error": {"message", "type", "param", "code"}}}.
 */
final class ApiError extends Exception {
    final int status;
    final String type, param, code;

    ApiError(int status, String type, String param, String code, String message) {
        super(message, null, false, false);
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
    }

    /** 400: the request itself is wrong; {@code param} names the offending field (or null). */
    static ApiError invalid(String param, String message) {
        return new ApiError(400, "invalid_request_error", param, null, message);
    }

    String json() {
        StringBuilder sb = new StringBuilder("{\"error\":{\"message\":");
        Jsons.quote(sb, getMessage());
        sb.append(",\"type\":");
        Jsons.quote(sb, type);
        sb.append(",\"param\":");
        Jsons.quote(sb, param);
        sb.append(",\"code\":");
        Jsons.quote(sb, code);
        return sb.append("}}").toString();
    }
}
